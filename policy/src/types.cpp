#include "types.hpp"

#include "discovery.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace pgsieve::policy::detail {

namespace {

// How deep a type's makeup is followed (arrays of domains over composites…).
constexpr int max_type_depth = 16;

std::string qualified(const type_info& t) { return t.schema + "." + t.name; }

refusal not_allowed(const std::string& name, int location, const check_scope& s) {
    // The same words for a type that does not exist and one the policy hides.
    return refusal{rule::unresolved,
                   fmt::format("pgsieve: type \"{}\" does not exist or is not allowed by policy \"{}\"", name,
                               s.ctx.policy.name),
                   "rule: types must resolve in the catalog, and a user-defined type must be one the policy's "
                   "tables use",
                   "check the name; if the type was created moments ago, retry shortly", location};
}

// The user-defined types the policy's readable columns use, and its granted relations' row types.
std::set<std::uint32_t> visible_user_types(const check_scope& s) {
    std::set<std::uint32_t> out;
    const auto& cat = s.ctx.cat;
    const auto add = [&](std::uint32_t oid, auto&& self, int depth) -> void {
        const auto* t = cat.type(oid);
        if (!t || depth > max_type_depth || !out.insert(oid).second) return;
        for (const auto next : {t->element, t->base, t->subtype}) {
            if (next) self(next, self, depth + 1);
        }
    };
    for (const auto& [name, grant] : s.ctx.policy.tables) {
        const auto* rel = cat.relation(name.schema, name.name);
        if (!rel) continue;
        if (rel->row_type) add(rel->row_type, add, 0);
        for (const auto& c : rel->column_types) {
            if (!column_rule(&grant, *rel, c.name, s.ctx).empty()) continue;
            if (const auto* t = cat.type(c.type.schema, c.type.name)) add(t->oid, add, 0);
        }
    }
    return out;
}

// What converting to `t` runs or reaches, judged recursively. `shown`: how
// a refusal names a type the policy hides (as the client wrote it, or by OID:
// never by a name the client did not give).
verdict judge(const type_info& t, int location, const check_scope& s, const std::set<std::uint32_t>& visible, int depth,
              const std::string& shown) {
    const auto& ctx = s.ctx;
    const auto& cat = ctx.cat;
    if (depth > max_type_depth)
        return refusal{rule::unsupported, fmt::format("pgsieve: type \"{}\" is nested deeper than pgsieve follows", shown),
                       "rule: anything the analysis does not fully understand is refused", "", location};
    if (!t.builtin() && !visible.contains(t.oid)) return not_allowed(shown, location, s);
    if (t.type == 'p' && t.name != "record" && t.name != "unknown")
        return refusal{rule::type, fmt::format("pgsieve: converting to the pseudo-type \"{}\" is not allowed", t.name),
                       "rule: types (pseudo-types such as cstring and internal reach PostgreSQL's internals)",
                       "convert to a data type", location};
    // A domain's CHECK constraints run the functions they call.
    if (t.type == 'd') {
        const auto d = cat.domains.find(type_key{t.schema, t.name});
        if (d != cat.domains.end()) {
            for (const auto& [schema, name] : d->second.functions) {
                // The function is not named: the policy does not show it.
                if (const auto why = named_function_rule(schema, name, ctx); !why.empty())
                    return refusal{rule::type,
                                   fmt::format("pgsieve: converting to type \"{}\" runs a function (its CHECK "
                                               "constraint's) that policy \"{}\" does not allow",
                                               qualified(t), ctx.policy.name),
                                   why + " (a domain's CHECK constraints run on conversion)", listed_functions(ctx),
                                   location};
            }
        }
    }
    // A user-defined base type's input function runs on conversion.
    if (t.type == 'b' && !t.builtin()) {
        if (const auto* in = cat.function(t.input)) {
            if (const auto why = function_rule(*in, nullptr, ctx); !why.empty())
                return refusal{rule::type,
                               fmt::format("pgsieve: converting to type \"{}\" runs its input function, which policy "
                                           "\"{}\" does not allow",
                                           qualified(t), ctx.policy.name),
                               why, "list the type's input function in the policy's functions", location};
        }
    }
    // A cast to the type through a function outside pg_catalog runs that function.
    const auto [begin, end] = cat.casts.equal_range(type_key{t.schema, t.name});
    for (auto it = begin; it != end; ++it) {
        const auto& c = it->second;
        if (listed(ctx, c.function_schema, c.function_name)) continue;
        return refusal{rule::type,
                       fmt::format("pgsieve: casting to type \"{}\" may run a user-defined cast's function, which "
                                   "policy \"{}\" does not allow",
                                   qualified(t), ctx.policy.name),
                       "rule: functions (a user-defined cast runs its function)",
                       "list the cast's function in the policy's functions", location};
    }
    // What the type is made of converts too: array elements, a domain's base,
    // a range's subtype, a composite's attributes.
    for (const auto next : {t.element, t.base, t.subtype}) {
        if (!next) continue;
        const auto* n = cat.type(next);
        if (!n) return not_allowed(fmt::format("with OID {}", next), location, s);
        if (auto v = judge(*n, location, s, visible, depth + 1, fmt::format("with OID {}", next))) return v;
    }
    return std::nullopt;
}

bool plain_name_printing_cast(const parser::type_ref& t) {
    // The casts scoped discovery rewrites to keep only visible objects.
    return t.cast_location >= 0 && !t.array && name_printing_type(t.name);
}

}  // namespace

const type_info* find_type(const std::vector<std::string>& name, const catalog& cat,
                           const std::vector<std::string>& path) {
    if (name.size() == 2) return cat.type(name[0], name[1]);
    if (name.size() != 1) return nullptr;
    for (const auto& schema : path) {
        if (const auto* t = cat.type(schema, name[0])) return t;
    }
    return nullptr;
}

bool type_visible(const type_info& t, const check_scope& s) {
    return t.builtin() || visible_user_types(s).contains(t.oid);
}

verdict judge_type(const type_info& t, int location, const check_scope& s, const std::string& shown) {
    return judge(t, location, s, t.builtin() ? std::set<std::uint32_t>{} : visible_user_types(s), 0, shown);
}

verdict check_types(const parser::statement_facts& f, const check_scope& s) {
    const auto& cat = s.ctx.cat;
    if (!cat.has_types()) return std::nullopt;  // a catalog made by hand (unit tests) lists no types
    const bool introspection = s.ctx.policy.catalog == config::catalog_access::introspection;
    for (const auto& t : f.types) {
        const auto* type = find_type(t.name, cat, s.path);
        std::string written;
        for (const auto& part : t.name) written += (written.empty() ? "" : ".") + part;
        if (!type) return not_allowed(written, t.location, s);
        if (auto v = judge_type(*type, t.location, s, written)) return v;
        if (!cat.name_printing(type->oid)) continue;
        // Values of name-printing types print any object's name: only a
        // plain cast scoped discovery guards, under catalog: introspection.
        if (introspection && plain_name_printing_cast(t)) continue;
        return refusal{rule::catalog,
                       fmt::format("pgsieve: converting to {} prints catalog object names, which policy \"{}\" does "
                                   "not show",
                                   written + (t.array ? "[]" : ""), s.ctx.policy.name),
                       introspection ? "rule: catalog: introspection scopes a plain cast to a reg* type only (not an "
                                       "array, a domain, a column definition or a parameter of one)"
                                     : "rule: catalog: none (the policy grants no catalog introspection)",
                       "compare OIDs without converting them, or use a policy with catalog: introspection",
                       t.location};
    }
    return std::nullopt;
}

verdict check_parameter_types(const std::vector<std::uint32_t>& oids, const check_scope& s) {
    const auto& cat = s.ctx.cat;
    if (!cat.has_types()) return std::nullopt;
    for (const auto oid : oids) {
        if (oid == 0) continue;  // unspecified: PostgreSQL infers it from the statement, which is checked
        const auto* t = cat.type(oid);
        const auto shown = fmt::format("with OID {}", oid);
        if (!t) return not_allowed(shown, -1, s);
        if (auto v = judge_type(*t, -1, s, shown)) return v;
        if (cat.name_printing(oid))
            return refusal{rule::catalog,
                           fmt::format("pgsieve: a parameter of type {} prints catalog object names, which pgsieve "
                                       "cannot scope",
                                       t->builtin() ? qualified(*t) : shown),
                           "rule: parameters of name-printing types (reg*, aclitem, arrays of them) are refused",
                           "pass the OID as an oid parameter", -1};
    }
    return std::nullopt;
}

}  // namespace pgsieve::policy::detail
