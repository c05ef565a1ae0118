#include "check_references.hpp"

#include "functions.hpp"

#include <pgsieve/policy/builtin_functions.hpp>
#include <pgsieve/policy/builtins.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace pgsieve::policy::detail {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : std::string(separator)) + i;
    return out;
}

std::string statements_of(const config::policy& p) {
    std::vector<std::string> names;
    for (const auto k : p.statements) names.emplace_back(config::to_string(k));
    return join(names);
}

std::string tables_of(const config::policy& p) {
    std::vector<std::string> names;
    for (const auto& [name, grant] : p.tables) names.push_back(name.str());
    return names.empty() ? "none" : join(names);
}

refusal hidden_relation(policy::rule rule, const std::string& written, int location, const context& ctx) {
    return refusal{rule,
                   fmt::format("pgsieve: relation \"{}\" does not exist or is not allowed by policy \"{}\"", written,
                               ctx.policy.name),
                   "rule: tables (only listed relations may be used; one the policy does not list is not shown)",
                   fmt::format("allowed tables: {}", tables_of(ctx.policy)), location};
}

refusal hidden_column(policy::rule rule, const std::string& written, std::string hint, int location,
                      const context& ctx) {
    return refusal{rule,
                   fmt::format("pgsieve: column \"{}\" does not exist or is not allowed by policy \"{}\"", written,
                               ctx.policy.name),
                   "rule: columns (only the columns a table's entry allows may be used; others are not shown)",
                   std::move(hint), location};
}

refusal hidden_function(policy::rule rule, const std::string& written, int arguments, int location,
                        const context& ctx) {
    return refusal{rule,
                   fmt::format("pgsieve: function \"{}\" taking {} argument{} does not exist or is not allowed by "
                               "policy \"{}\"",
                               written, arguments, arguments == 1 ? "" : "s", ctx.policy.name),
                   "rule: functions (built-ins pgsieve classifies as safe, and the policy's functions; others are "
                   "not shown)",
                   listed_functions(ctx), location};
}

namespace {

const config::table_grant* grant_of(const relation_info& rel, const context& ctx) {
    const auto it = ctx.policy.tables.find(config::qualified_name{rel.schema, rel.name});
    return it == ctx.policy.tables.end() ? nullptr : &it->second;
}

bool introspection(const relation_info& rel, const context& ctx) {
    return ctx.policy.catalog == config::catalog_access::introspection &&
           builtins::introspection_relation(rel.schema, rel.name);
}

std::vector<std::string> allowed_columns(const config::table_grant* grant, const relation_info& rel,
                                         const context& ctx) {
    std::vector<std::string> out;
    for (const auto& c : rel.columns) {
        if (column_rule(grant, rel, c, ctx).empty()) out.push_back(c);
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

}  // namespace

bool listed(const context& ctx, const std::string& schema, const std::string& name) {
    return std::any_of(ctx.policy.functions.begin(), ctx.policy.functions.end(),
                       [&](const auto& q) { return q.schema == schema && q.name == name; });
}

std::string listed_functions(const context& ctx) {
    std::vector<std::string> names;
    for (const auto& q : ctx.policy.functions) names.push_back(q.str());
    return names.empty() ? std::string("immutable and stable built-in functions are allowed")
                         : fmt::format("immutable and stable built-ins are allowed, and: {}", join(names));
}


// Why the policy does not let this function run, or empty when it may.
// `call` is the call as written, when there is one (for arguments that matter).
std::string function_rule(const function_info& f, const parser::function_ref* call, const context& ctx) {
    if (listed(ctx, f.schema, f.name)) return {};
    if (f.schema != "pg_catalog")
        return "rule: functions (a function outside pg_catalog must be listed in the policy's functions)";
    // Every built-in is classified by OID (builtin_functions.hpp); one the table lacks is refused.
    const auto c = f.oid ? builtins::classify(f.oid) : builtins::classify(f.name);
    switch (c.what) {
        case builtins::function_class::allowed:
            return {};
        case builtins::function_class::setting:
            // Settings can hold secrets and server details: only those a client may read anyway.
            if (!call || !call->first_text_argument || !builtins::readable_parameter(lower(*call->first_text_argument)))
                return "rule: current_setting only of the session parameters a client may read, named by a constant";
            return {};
        case builtins::function_class::guarded:
            if (ctx.policy.catalog != config::catalog_access::introspection)
                return "rule: catalog: none (schema-introspection helpers need catalog: introspection)";
            return {};
        case builtins::function_class::refused:
            break;
    }
    return fmt::format("rule: built-in functions ({})", c.reason);
}

// Why the policy does not let a function named schema.name run (any of its
// overloads), or empty when it may: for functions reached indirectly.
std::string named_function_rule(const std::string& schema, const std::string& name, const context& ctx) {
    if (listed(ctx, schema, name)) return {};
    const auto* overloads = ctx.cat.functions(schema, name);
    if (!overloads) {  // not in the snapshot: treated as volatile, and so refused unless listed
        function_info unknown;
        unknown.schema = schema;
        unknown.name = name;
        return function_rule(unknown, nullptr, ctx);
    }
    for (const auto& fn : *overloads) {
        if (auto rule = function_rule(fn, nullptr, ctx); !rule.empty()) return rule;
    }
    return {};
}

namespace {

refusal function_refusal(const std::string& qualified, const std::string& rule, int location, const context& ctx) {
    return refusal{policy::rule::function,
                   fmt::format("pgsieve: function \"{}\" is not allowed by policy \"{}\"", qualified, ctx.policy.name),
                   rule, listed_functions(ctx), location};
}

void add_unique(std::vector<std::string>& into, std::string item) {
    if (std::find(into.begin(), into.end(), item) == into.end()) into.push_back(std::move(item));
}

// The type keys an unqualified or qualified type name may denote.
std::vector<type_key> type_candidates(const std::vector<std::string>& name, const std::vector<std::string>& path) {
    std::vector<type_key> out;
    if (name.size() == 2) out.push_back({name[0], name[1]});
    else if (name.size() == 1)
        for (const auto& schema : path) out.push_back({schema, name[0]});
    return out;
}

}  // namespace

std::string column_rule(const config::table_grant* grant, const relation_info& rel, const std::string& column,
                        const context& ctx) {
    if (!grant) return {};  // an introspection relation: every column
    if (grant->columns &&
        std::find(grant->columns->begin(), grant->columns->end(), column) == grant->columns->end())
        return fmt::format("tables.{}.columns lists the columns that may be read", rel.schema + "." + rel.name);
    if (std::find(grant->deny_columns.begin(), grant->deny_columns.end(), column) != grant->deny_columns.end())
        return fmt::format("tables.{}.deny_columns names it", rel.schema + "." + rel.name);
    const config::column_name key{{rel.schema, rel.name}, column};
    if (ctx.policy.masks.contains(key)) return {};  // readable, masked (masking.hpp)
    for (const auto& [label, columns] : ctx.cfg.classification) {
        if (columns.contains(key) && !ctx.policy.accept_classified.contains(label))
            return fmt::format("the column is classified \"{}\" and the policy does not accept_classified it", label);
    }
    return {};
}

bool has_denied_columns(const relation_info& rel, const context& ctx) {
    const auto* grant = grant_of(rel, ctx);
    if (!grant) return !introspection(rel, ctx);
    // A masked column counts: an upstream error must not print its value either.
    return std::any_of(rel.columns.begin(), rel.columns.end(), [&](const auto& c) {
        return !column_rule(grant, rel, c, ctx).empty() ||
               ctx.policy.masks.contains(config::column_name{{rel.schema, rel.name}, c});
    });
}

verdict check_relation(const relation_info& rel, const std::string& written, int location, const check_scope& s) {
    const auto& ctx = s.ctx;
    if (grant_of(rel, ctx) || introspection(rel, ctx)) return std::nullopt;
    // A user relation the policy does not list is not shown: refused as if it did not exist.
    if (rel.schema != "pg_catalog" && rel.schema != "information_schema")
        return hidden_relation(policy::rule::relation, written, location, ctx);
    // PostgreSQL's own relations exist everywhere: say why this one is refused.
    return refusal{policy::rule::relation,
                   fmt::format("pgsieve: {} \"{}\" is not allowed by policy \"{}\"",
                               rel.kind == 'v' || rel.kind == 'm' ? "view" : "table", rel.schema + "." + rel.name,
                               ctx.policy.name),
                   ctx.policy.catalog == config::catalog_access::introspection
                       ? "rule: catalog: introspection grants schema-discovery relations only; this one can reveal "
                         "data, roles or server state"
                       : "rule: catalog: none (the policy grants no catalog introspection)",
                   fmt::format("allowed tables: {}", tables_of(ctx.policy)), location};
}

std::string allowed_columns_hint(const parser::statement_facts& f, const check_scope& s) {
    // From the relations the statement names, not from how far resolving
    // it got: a missing column's hint is a hidden column's.
    std::vector<std::string> parts;
    std::vector<const relation_info*> seen;
    for (const auto& r : f.relations) {
        const auto* rel = r.schema.empty() ? s.ctx.cat.resolve_relation(r.name, s.path) : s.ctx.cat.relation(r.schema, r.name);
        const auto* grant = rel ? grant_of(*rel, s.ctx) : nullptr;
        if (!grant || std::find(seen.begin(), seen.end(), rel) != seen.end()) continue;
        seen.push_back(rel);
        const auto allowed = allowed_columns(grant, *rel, s.ctx);
        parts.push_back(fmt::format("{}: {}", rel->schema + "." + rel->name, allowed.empty() ? "none" : join(allowed)));
    }
    return parts.empty() ? "check the column names" : "allowed columns of " + join(parts, "; of ");
}

verdict check_reads(const parser::statement_facts& f, const resolution& res, const check_scope& s, decision& out) {
    const auto& ctx = s.ctx;
    // Columns drivers read on connect (pg_type's OIDs) pass under every policy.
    const auto bootstrap_only = [&](const relation_info* rel) {
        return builtins::bootstrap_column(rel->schema, rel->name, "oid") &&
               std::all_of(res.reads.begin(), res.reads.end(), [&](const column_read& r) {
                   return r.relation != rel || builtins::bootstrap_column(rel->schema, rel->name, r.column);
               });
    };
    verdict first;
    for (const auto& use : res.relations) {
        add_unique(out.tables, use.relation->schema + "." + use.relation->name);
        if (first || bootstrap_only(use.relation)) continue;
        first = check_relation(*use.relation, use.written, use.location, s);
    }
    for (const auto& r : res.reads) {
        const std::string table = r.relation->schema + "." + r.relation->name;
        add_unique(out.columns, table + "." + r.column);
        if (first) continue;
        const auto* grant = grant_of(*r.relation, ctx);
        if (!grant && !introspection(*r.relation, ctx)) continue;  // a bootstrap column, checked above
        // System columns (ctid, xmin…), like PostgreSQL's table-level SELECT:
        // only where the policy hides no column of the table.
        const bool system = std::find(r.relation->columns.begin(), r.relation->columns.end(), r.column) ==
                            r.relation->columns.end();
        const std::string rule = !system ? column_rule(grant, *r.relation, r.column, ctx)
                                 : has_denied_columns(*r.relation, ctx)
                                     ? fmt::format("system columns of {} need every column of it granted",
                                                   r.relation->schema + "." + r.relation->name)
                                     : std::string();
        if (rule.empty()) continue;
        if (r.location >= 0) {
            // Written by the client: refused as if it did not exist (it is not shown).
            first = hidden_column(policy::rule::column, r.column, allowed_columns_hint(f, s), r.location, ctx);
            first->internal_detail = "rule: " + rule;
        } else {
            // Implied (*, t.*, a whole row, USING, NATURAL): the column is not named.
            first = refusal{policy::rule::column,
                            fmt::format("pgsieve: this statement reads every column of \"{}\" (through *, t.*, a "
                                        "whole row, USING or NATURAL), and policy \"{}\" does not allow them all",
                                        table, ctx.policy.name),
                            "rule: columns (only the columns a table's entry allows may be used)",
                            allowed_columns_hint(f, s) + "; name them instead of *", r.location};
            first->internal_detail = "rule: " + rule;
        }
    }
    return first;
}

verdict check_functions(const parser::statement_facts& f, const check_scope& s, decision& out) {
    const auto& ctx = s.ctx;
    for (const auto& fn : f.functions) {
        if (fn.name.empty() || fn.name.size() > 2)
            return refusal{policy::rule::function, "pgsieve: function name not understood", "rule: functions", "",
                           fn.location};
        const auto found = candidates(ctx.cat, fn, s.path);
        if (found.empty()) return hidden_function(policy::rule::function, join(fn.name, "."), fn.arguments, fn.location, ctx);
        // Argument types are not known here: every overload the call could
        // pick, in every schema of the path, must be allowed.
        for (const auto* c : found) {
            const std::string qualified = c->schema + "." + c->name;
            add_unique(out.functions, qualified);
            const auto rule = function_rule(*c, &fn, ctx);
            if (rule.empty()) continue;
            // A user function the policy does not list is not shown: as if it did not exist.
            if (c->schema != "pg_catalog") {
                auto r = hidden_function(policy::rule::function, join(fn.name, "."), fn.arguments, fn.location, ctx);
                r.internal_detail = rule;
                return r;
            }
            return function_refusal(qualified, rule, fn.location, ctx);
        }
    }
    return std::nullopt;
}

verdict check_operators(const parser::statement_facts& f, const resolution& res, const check_scope& s) {
    const auto& ctx = s.ctx;
    // Most statements meet no user-defined operator at all: nothing to work out.
    const bool any_user_operator = std::any_of(f.operators.begin(), f.operators.end(), [&](const auto& op) {
        return !op.name.empty() && ctx.cat.has_user_operator(op.name.back());
    });
    if (!any_user_operator) return std::nullopt;
    // The user-defined types the statement touches: those of the columns it
    // reads, of its conversions and of the user functions it calls.
    std::set<type_key> in_play;
    for (const auto& r : res.reads) {
        if (const auto* c = r.relation->column(r.column)) {
            if (!c->type.builtin()) in_play.insert(c->type);
            if (!c->element.name.empty() && !c->element.builtin()) in_play.insert(c->element);
        }
    }
    for (const auto& t : f.types) {
        for (auto& key : type_candidates(t.name, s.path)) {
            if (!key.builtin()) in_play.insert(std::move(key));
        }
    }
    for (const auto& fn : f.functions) {
        for (const auto* c : candidates(ctx.cat, fn, s.path)) {
            if (!c->result.builtin()) in_play.insert(c->result);
        }
    }
    const auto touches = [&](const type_key& t) { return !t.name.empty() && in_play.contains(t); };
    const auto builtin_or_none = [](const type_key& t) { return t.name.empty() || t.builtin(); };

    for (const auto& op : f.operators) {
        if (op.name.empty()) continue;
        const std::string& name = op.name.back();
        const std::string schema = op.name.size() == 2 ? op.name[0] : std::string();
        if (schema == "pg_catalog") continue;
        for (const auto* user : ctx.cat.user_operators(name)) {
            // A written, unqualified operator is looked up along the path; an
            // implied one (sorting, grouping, CASE, IN…) through the types'
            // operator classes, wherever they live.
            const bool visible = op.implicit            ? true
                                 : schema.empty()       ? std::find(s.path.begin(), s.path.end(), user->schema) != s.path.end()
                                                        : user->schema == schema;
            if (!visible) continue;
            // It can be picked when the statement touches one of its types,
            // or (written) when it is declared over built-in types only.
            const bool relevant = touches(user->left) || touches(user->right) ||
                                  (!op.implicit && builtin_or_none(user->left) && builtin_or_none(user->right));
            if (!relevant) continue;
            if (named_function_rule(user->function_schema, user->function_name, ctx).empty()) continue;
            return refusal{policy::rule::operator_,
                           fmt::format("pgsieve: operator {}.{} (function {}.{}) is not allowed by policy \"{}\"",
                                       user->schema, name, user->function_schema, user->function_name, ctx.policy.name),
                           op.implicit ? "rule: operators defined outside pg_catalog need their function in the "
                                         "policy's functions (this one is implied by a comparison, sort or grouping)"
                                       : "rule: operators defined outside pg_catalog need their function in the "
                                         "policy's functions",
                           fmt::format("add {}.{} to functions to allow it", user->function_schema, user->function_name),
                           op.location};
        }
    }
    return std::nullopt;
}

}  // namespace pgsieve::policy::detail
