#include "value_types.hpp"

#include "discovery.hpp"
#include "discovery_sql.hpp"
#include "functions.hpp"
#include "types.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace pgsieve::policy::detail {

namespace {

using parser::expr;

// Whether a value may be of a name-printing type, and whether scoped
// discovery guards it (keeps it only when it names a visible object).
enum class taint : std::uint8_t { none, guarded, raw };

struct value {
    taint np = taint::none;
    bool null = false;  // the NULL literal: converting it prints nothing
};

value join(value a, value b) { return {std::max(a.np, b.np), a.null && b.null}; }

// Polymorphic pseudo-types: a function taking them unifies its arguments'
// types, and one returning them returns what it was given.
constexpr std::uint32_t polymorphic_types[] = {2283, 2277, 2776, 3500, 3831, 4537, 5077, 5078, 5079, 5080, 4538};
bool polymorphic(std::uint32_t oid) {
    return std::find(std::begin(polymorphic_types), std::end(polymorphic_types), oid) != std::end(polymorphic_types);
}

// The built-ins whose name-printing results scoped discovery keeps only when
// they name a visible object (discovery.cpp rewrites them).
bool guarded_lookup(const function_info& f) {
    return f.schema == "pg_catalog" && (f.name.starts_with("to_reg") || f.name == "pg_partition_ancestors");
}

// Operators whose result is a boolean: what they compare is never output.
bool comparison(const parser::expr& e, const parser::statement_facts& f) {
    if (e.variant != expr::op && e.variant != expr::op_any && e.variant != expr::op_all) return true;
    if (e.ref < 0 || e.ref >= static_cast<int>(f.operators.size())) return false;
    const auto& name = f.operators[e.ref].name.back();
    static constexpr std::string_view comparisons[] = {"=",  "<>", "!=",  "<",    ">",    "<=",  ">=", "~~", "!~~", "~~*",
                                                       "!~~*", "~",  "!~", "~*", "!~*", "@@", "@>", "<@", "&&"};
    return std::find(std::begin(comparisons), std::end(comparisons), name) != std::end(comparisons);
}

class inference {
public:
    inference(const parser::statement_facts& f, const resolution& res, const check_scope& s)
        : f_(f), res_(res), s_(s), cat_(s.ctx.cat), values_(f.exprs.size()), done_(f.exprs.size(), false),
          introspection_(s.ctx.policy.catalog == config::catalog_access::introspection) {}

    verdict run() {
        for (int e = 0; e < static_cast<int>(f_.exprs.size()) && !problem_; ++e) value_of(e);
        for (int q = 0; q < static_cast<int>(f_.queries.size()) && !problem_; ++q) {
            const auto& query = f_.queries[q];
            if (query.set_left >= 0 || !query.values_rows.empty()) {
                const std::size_t width = query.values_rows.empty() ? 1 : query.values_rows.front().size();
                for (std::size_t i = 0; i < std::max<std::size_t>(width, 1); ++i) output(q, i);
            }
        }
        return problem_;
    }

private:
    void refuse(int location, std::string what) {
        if (problem_) return;
        problem_ = refusal{
            rule::catalog,
            fmt::format("pgsieve: {} — a value that prints catalog object names, which policy \"{}\" {}", what,
                        s_.ctx.policy.name, introspection_ ? "can show only when scoped discovery limits it" : "does not show"),
            introspection_ ? "rule: catalog: introspection scopes reg* values only where a plain cast or to_regclass "
                             "makes them, and never where PostgreSQL converts other values to their type"
                           : "rule: catalog: none (no value may print catalog object names)",
            "compare OIDs as oid values instead of converting them to reg* types", location};
    }

    // A value that is not allowed where it arises: raw anywhere; anything
    // name-printing under catalog: none.
    value check(value v, int location, const char* what) {
        if (v.np == taint::raw || (v.np != taint::none && !introspection_)) refuse(location, what);
        return v;
    }

    // Peers whose types PostgreSQL unifies: a name-printing one beside an
    // ordinary one converts the ordinary one, unguarded.
    value unify(const std::vector<value>& peers, int location, const char* where) {
        value out{taint::none, true};
        bool printing = false, ordinary = false;
        for (const auto& p : peers) {
            out = join(out, p);
            if (p.np != taint::none) printing = true;
            else if (!p.null) ordinary = true;
        }
        if (printing && ordinary)
            refuse(location, fmt::format("{} combines a reg* value with another value, which PostgreSQL converts to "
                                         "its type",
                                         where));
        return out;
    }

    value of_type(std::uint32_t oid) {
        if (oid == 0) return {};
        return {cat_.name_printing(oid) ? taint::raw : taint::none, false};
    }

    value of_origin(const origin& o, int location) {
        switch (o.what) {
            case origin::kind::plain: return {};
            case origin::kind::base: {
                const auto& c = o.relation->column_types;
                if (o.column >= c.size()) return {};  // a catalog made by hand: no types
                const auto* t = cat_.type(c[o.column].type.schema, c[o.column].type.name);
                if (!t) return {cat_.has_types() ? taint::raw : taint::none, false};
                // A scoped catalog relation keeps such a column only where it names a visible object.
                if (cat_.name_printing(t->oid) && rewritten_relation(*o.relation, s_.ctx) &&
                    guardable_column_type(t->oid))
                    return {taint::guarded, false};
                return check(of_type(t->oid), location,
                             fmt::format("column \"{}\" of \"{}.{}\" is of type {}", c[o.column].name, o.relation->schema,
                                         o.relation->name, t->name)
                                 .c_str());
            }
            case origin::kind::query_output: return output(o.query, o.column);
            case origin::kind::query_row: {
                value v;
                for (std::size_t i = 0; i < width(o.query); ++i) v = join(v, output(o.query, i));
                return v;
            }
            case origin::kind::function_column: return function_column(o);
            case origin::kind::unknown: break;
        }
        return check({taint::raw, false}, location, "a column whose type pgsieve cannot work out");
    }

    value of_origins(const origins& from, int location) {
        value v;
        for (const auto& o : from) v = join(v, of_origin(o, location));
        return v;
    }

    std::size_t width(int q) const { return output_width(f_, res_, q); }

    // Output column `pos` of query q.
    value output(int q, std::size_t pos) {
        if (q < 0) return {};
        const auto key = std::make_pair(q, pos);
        if (const auto it = outputs_.find(key); it != outputs_.end()) return it->second;
        outputs_[key] = {};  // a recursive CTE reaching itself: its other arm decides
        const auto& query = f_.queries[q];
        value v;
        if (query.set_left >= 0) {
            v = unify({output(query.set_left, pos), output(query.set_right, pos)}, -1,
                      "a UNION, INTERSECT or EXCEPT");
        } else if (!query.values_rows.empty()) {
            std::vector<value> cells;
            for (const auto& row : query.values_rows) {
                if (pos < row.size() && row[pos] >= 0) cells.push_back(value_of(row[pos]));
            }
            v = cells.size() > 1 ? unify(cells, -1, "a VALUES list") : cells.empty() ? value{} : cells.front();
        } else {
            std::size_t at = 0;
            for (const auto& t : query.targets) {
                if (t.star) {
                    const auto it = t.expr >= 0 ? res_.star_columns.find({q, f_.exprs[t.expr].ref}) : res_.star_columns.end();
                    const std::size_t n = it == res_.star_columns.end() ? 0 : it->second.size();
                    if (pos < at + n) {
                        v = of_origins(it->second[pos - at], t.expr >= 0 ? f_.exprs[t.expr].location : -1);
                        break;
                    }
                    at += n;
                } else {
                    if (pos == at) {
                        v = t.expr >= 0 ? value_of(t.expr) : value{};
                        break;
                    }
                    ++at;
                }
            }
        }
        outputs_[key] = v;
        return v;
    }

    value function_column(const origin& o) {
        const auto& range = f_.queries[o.query].ranges[o.range];
        const auto fi = static_cast<std::size_t>(o.function);
        if (fi < range.function_column_types.size() && !range.function_column_types[fi].empty() &&
            o.function_column >= 0) {
            const int type = range.function_column_types[fi][o.function_column];
            if (type < 0) return {taint::raw, false};
            const auto* t = find_type(f_.types[type].name, cat_, s_.path);
            return t ? of_type(t->oid) : value{taint::raw, false};
        }
        const int call = fi < range.function_exprs.size() ? range.function_exprs[fi] : -1;
        if (o.function_column < 0) return call >= 0 ? value_of(call) : value{};
        if (fi >= range.functions.size()) return {};
        value v;
        for (const auto* c : candidates(cat_, range.functions[fi], s_.path)) {
            value col;
            if (static_cast<std::size_t>(o.function_column) < c->out_types.size())
                col = of_type(c->out_types[o.function_column]);
            else if (c->result_type)  // a scalar or composite result
                col = of_type(c->result_type);
            if (col.np != taint::none && guarded_lookup(*c) && introspection_) col.np = taint::guarded;
            v = join(v, col);
        }
        return check(v, range.location, "a column of a function's result is of a reg* type");
    }

    value function_call(const expr& e, const std::vector<value>& args) {
        if (e.ref < 0 || e.ref >= static_cast<int>(f_.functions.size())) return {};
        const auto& fn = f_.functions[e.ref];
        value v;
        bool unifies = false;
        for (const auto* c : candidates(cat_, fn, s_.path)) {
            if (c->schema == "pg_catalog" && c->name == "pg_typeof") continue;  // the type of a value it reads
            const bool prints = cat_.name_printing(c->result_type) ||
                                std::any_of(c->out_types.begin(), c->out_types.end(),
                                            [&](std::uint32_t t) { return cat_.name_printing(t); });
            if (prints) v = join(v, {guarded_lookup(*c) && introspection_ ? taint::guarded : taint::raw, false});
            if (polymorphic(c->result_type))
                for (const auto& a : args) v = join(v, {a.np, false});
            if (std::count_if(c->argument_types.begin(), c->argument_types.end(), polymorphic) > 1) unifies = true;
        }
        if (unifies) unify(args, e.location, "a polymorphic function's arguments");
        return check(v, e.location, fmt::format("function \"{}\" returns a reg* value", fn.name.back()).c_str());
    }

    value value_of(int id) {
        if (id < 0 || id >= static_cast<int>(f_.exprs.size())) return {};
        if (done_[id]) return values_[id];
        done_[id] = true;  // a cycle cannot occur; this only guards against one
        const auto& e = f_.exprs[id];
        std::vector<value> args;
        for (const int o : e.operands) args.push_back(value_of(o));
        for (const int u : e.uses) value_of(u);
        value v;
        switch (e.what) {
            case expr::kind::constant: case expr::kind::param: case expr::kind::boolean: case expr::kind::test:
                break;
            case expr::kind::null:
                v.null = true;
                break;
            case expr::kind::column: {
                const auto key = std::make_pair(e.query, e.ref);
                if (const auto stars = res_.star_columns.find(key); stars != res_.star_columns.end()) {
                    for (const auto& c : stars->second) v = join(v, of_origins(c, e.location));
                } else if (const auto it = res_.column_origins.find(key); it != res_.column_origins.end()) {
                    v = of_origins(it->second, e.location);
                }
                break;
            }
            case expr::kind::function:
                v = function_call(e, args);
                break;
            case expr::kind::cast: {
                if (e.ref < 0 || e.ref >= static_cast<int>(f_.types.size())) break;
                const auto& t = f_.types[e.ref];
                const auto* type = find_type(t.name, cat_, s_.path);
                if (type && cat_.name_printing(type->oid))  // check_types let only a guarded cast through
                    v = {t.cast_location >= 0 && !t.array && name_printing_type(t.name) ? taint::guarded : taint::raw,
                         false};
                break;
            }
            case expr::kind::operator_:
                if (e.variant == expr::nullif) v = args.empty() ? value{} : args.front();
                else if (!comparison(e, f_)) v = unify(args, e.location, "an operator");
                break;
            case expr::kind::case_: {
                // Its value comes from each WHEN's result (a case_when's value) and the ELSE.
                const auto first = (e.variant & expr::case_has_arg) ? 1 : 0;
                v = unify(std::vector<value>(args.begin() + std::min<std::size_t>(first, args.size()), args.end()),
                          e.location, "a CASE");
                break;
            }
            case expr::kind::case_when:
                v = args.size() == 2 ? args[1] : value{};
                break;
            case expr::kind::coalesce: v = unify(args, e.location, "a COALESCE"); break;
            case expr::kind::min_max: v = unify(args, e.location, "a GREATEST or LEAST"); break;
            case expr::kind::array: v = unify(args, e.location, "an ARRAY"); break;
            case expr::kind::row:
            case expr::kind::other:
                for (const auto& a : args) v = join(v, a);
                v.null = false;
                break;
            case expr::kind::sublink:
                if (e.variant == expr::scalar || e.variant == expr::array_of) v = output(e.ref, 0);
                break;
        }
        values_[id] = v;
        return v;
    }

    const parser::statement_facts& f_;
    const resolution& res_;
    const check_scope& s_;
    const catalog& cat_;
    std::vector<value> values_;
    std::vector<bool> done_;
    std::map<std::pair<int, std::size_t>, value> outputs_;
    bool introspection_;
    verdict problem_;
};

}  // namespace

verdict check_value_types(const parser::statement_facts& f, const resolution& res, const check_scope& s) {
    if (!s.ctx.cat.has_types()) return std::nullopt;  // a catalog made by hand lists no types
    return inference(f, res, s).run();
}

}  // namespace pgsieve::policy::detail
