#include "masking.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace pgsieve::policy::detail {

namespace {

using parser::clause;
using parser::expr;

// A masked value an output column carries, and the base column it is.
struct carried {
    config::mask_method method;
    const relation_info* relation;
    std::size_t column;
};

class mask_check {
public:
    mask_check(const parser::statement_facts& f, const resolution& res, const context& ctx)
        : f_(f), res_(res), ctx_(ctx) {}

    verdict run(bool top, decision& out) {
        // A view's columns may compute anything from the columns it reads:
        // one that reads a masked column is refused (its definition is not analysed).
        for (const auto& use : res_.relations) {
            std::set<std::uint32_t> seen;
            if (const auto m = read_by_definition(*use.relation, seen))
                return refuse(*m, use.location,
                              fmt::format("by {} \"{}.{}\", whose columns may compute anything from it (query the "
                                          "table itself)",
                                          use.relation->kind == 'm' ? "materialized view" : "view",
                                          use.relation->schema, use.relation->name),
                              m->relation ? std::string() : "(a column of a relation pgsieve's catalog does not hold)",
                              m->relation ? fmt::format("query {}.{} instead, selecting {} as is", m->relation->schema,
                                                        m->relation->name, m->relation->columns[m->column])
                                          : std::string("query the tables the view reads instead"));
        }
        // Every column reference that yields a masked value must be a bare projection.
        for (std::size_t id = 0; id < f_.exprs.size(); ++id) {
            const auto& e = f_.exprs[id];
            if (e.what != expr::kind::column) continue;
            const auto key = std::make_pair(e.query, e.ref);
            std::vector<const origins*> columns;  // each value it yields: one, or one per column of a star
            bool star = false;
            if (const auto s = res_.star_columns.find(key); s != res_.star_columns.end()) {
                star = true;
                for (const auto& c : s->second) columns.push_back(&c);
            } else if (const auto c = res_.column_origins.find(key); c != res_.column_origins.end()) {
                columns.push_back(&c->second);
            }
            for (const auto* c : columns) {
                const auto m = masked(*c);
                if (!m) continue;
                if (f_.kind != parser::statement_kind::select || f_.data_modifying_cte)
                    return refuse(*m, e.location, "in a statement other than a SELECT");
                if (e.where != clause::target || !is_target(e.query, static_cast<int>(id)))
                    return refuse(*m, e.location, fmt::format("in {}", where(e.where)));
                // A whole-row reference (t), or a JOIN … USING column merged from two.
                const bool row = std::any_of(c->begin(), c->end(),
                                             [](const origin& o) { return o.what == origin::kind::query_row; });
                if (row || res_.whole_rows.contains(key)) return refuse(*m, e.location, "inside a whole-row reference");
                if (c->size() != 1)
                    return refuse(*m, e.location,
                                  star ? "merged by JOIN … USING" : "inside a whole-row reference");
            }
        }
        // Queries whose results carry masked values feed only bare projections.
        std::set<int> sublinks, arms;
        for (const auto& e : f_.exprs)
            if (e.what == expr::kind::sublink && e.ref >= 0) sublinks.insert(e.ref);
        for (const auto& q : f_.queries) {
            if (q.set_left >= 0) arms.insert(q.set_left);
            if (q.set_right >= 0) arms.insert(q.set_right);
        }
        for (int q = 0; q < static_cast<int>(f_.queries.size()); ++q) {
            const auto& query = f_.queries[q];
            std::optional<carried> first;
            for (std::size_t pos = 0, n = width(q); pos < n && !first; ++pos) first = output(q, pos);
            if (!first) continue;
            const int at = f_.location;
            if (sublinks.contains(q)) return refuse(*first, at, "in a sub-query whose result feeds an expression");
            if (arms.contains(q) || query.set_left >= 0)
                return refuse(*first, at, "in a UNION, INTERSECT or EXCEPT (which compare values)");
            if (query.distinct) return refuse(*first, at, "in a SELECT DISTINCT (which compares values)");
            for (const auto& e : f_.exprs) {
                if (e.query == q && e.what == expr::kind::constant &&
                    (e.where == clause::order_by || e.where == clause::group_by || e.where == clause::distinct))
                    return refuse(*first, e.location, "where a position in ORDER BY or GROUP BY may name it");
            }
        }
        // JOIN … USING and NATURAL JOIN compare columns no reference names.
        for (const auto& query : f_.queries) {
            for (const auto& r : query.ranges) {
                if (r.type != parser::range_entry::kind::join || (r.using_columns.empty() && !r.natural)) continue;
                for (const auto& use : res_.relations) {
                    const auto& rel = *use.relation;
                    for (std::size_t c = 0; c < rel.columns.size(); ++c) {
                        const auto m = method_of(rel, c);
                        if (!m) continue;
                        const bool joined = r.natural || std::find(r.using_columns.begin(), r.using_columns.end(),
                                                                   rel.columns[c]) != r.using_columns.end();
                        if (joined) return refuse({*m, &rel, c}, r.location, "in a JOIN … USING or NATURAL JOIN");
                    }
                }
            }
        }
        if (f_.root < 0) return std::nullopt;
        std::vector<decision::masked_output> masked;
        for (std::size_t pos = 0, n = width(f_.root); pos < n; ++pos) {
            if (const auto m = output(f_.root, pos)) {
                const auto& rel = *m->relation;
                const std::int16_t number = m->column < rel.column_types.size() ? rel.column_types[m->column].number : 0;
                masked.push_back(
                    {pos, m->method, rel.oid, number, rel.schema + "." + rel.name + "." + rel.columns[m->column]});
            }
        }
        if (masked.empty()) return std::nullopt;
        if (!top)
            return refuse({masked.front().method, nullptr, 0}, f_.location,
                          "in EXPLAIN (whose plan shows values pgsieve cannot mask)",
                          masked.front().column);
        out.masked = std::move(masked);
        out.result_columns = width(f_.root);
        return std::nullopt;
    }

private:
    std::optional<config::mask_method> method_of(const relation_info& rel, std::size_t column) const {
        const auto it = ctx_.policy.masks.find(config::column_name{{rel.schema, rel.name}, rel.columns[column]});
        if (it == ctx_.policy.masks.end()) return std::nullopt;
        return it->second;
    }

    // A masked column a view's definition reads, through views it reads
    // (an unknown relation or column counts as masked: the first column).
    std::optional<carried> read_by_definition(const relation_info& rel, std::set<std::uint32_t>& seen) const {
        for (const auto& [oid, number] : rel.definition_reads) {
            const auto* read = ctx_.cat.relation(oid);
            if (!read) return carried{config::mask_method::redact, nullptr, 0};
            for (std::size_t c = 0; c < read->column_types.size(); ++c) {
                if (read->column_types[c].number != number) continue;
                if (const auto m = method_of(*read, c)) return carried{*m, read, c};
            }
            if (!read->definition_reads.empty() && seen.insert(oid).second)
                if (auto m = read_by_definition(*read, seen)) return m;
        }
        return std::nullopt;
    }

    // The masked value among `from`, if any.
    std::optional<carried> masked(const origins& from) {
        for (const auto& o : from) {
            switch (o.what) {
                case origin::kind::base:
                    if (o.relation && o.column < o.relation->columns.size())
                        if (const auto m = method_of(*o.relation, o.column)) return carried{*m, o.relation, o.column};
                    break;
                case origin::kind::query_output:
                    if (const auto m = output(o.query, o.column)) return m;
                    break;
                case origin::kind::query_row:
                    for (std::size_t pos = 0, n = width(o.query); pos < n; ++pos)
                        if (const auto m = output(o.query, pos)) return m;
                    break;
                default:
                    break;
            }
        }
        return std::nullopt;
    }

    bool is_target(int q, int id) const {
        if (q < 0) return false;
        for (const auto& t : f_.queries[q].targets)
            if (t.expr == id) return true;
        return false;
    }

    std::size_t width(int q) const { return output_width(f_, res_, q); }

    // The masked value output column `pos` of query q carries, if any: only
    // a bare column carries one (anything else with a masked value in it was
    // refused); a set operation's come from its arms.
    std::optional<carried> output(int q, std::size_t pos) {
        if (q < 0) return std::nullopt;
        const auto key = std::make_pair(q, pos);
        if (const auto it = outputs_.find(key); it != outputs_.end()) return it->second;
        outputs_[key] = std::nullopt;  // a recursive CTE reaching itself
        const auto& query = f_.queries[q];
        std::optional<carried> v;
        if (query.set_left >= 0) {
            v = output(query.set_left, pos);
            if (!v) v = output(query.set_right, pos);
        } else {
            std::size_t at = 0;
            for (const auto& t : query.targets) {
                const std::size_t n = target_width(f_, res_, q, t);
                if (pos < at + n) {
                    if (t.expr >= 0 && f_.exprs[t.expr].what == expr::kind::column) {
                        const auto ck = std::make_pair(q, f_.exprs[t.expr].ref);
                        if (t.star) {
                            if (const auto s = res_.star_columns.find(ck); s != res_.star_columns.end())
                                v = masked(s->second[pos - at]);
                        } else if (const auto c = res_.column_origins.find(ck); c != res_.column_origins.end()) {
                            v = masked(c->second);
                        }
                    }
                    break;
                }
                at += n;
            }
        }
        outputs_[key] = v;
        return v;
    }

    static std::string_view where(clause c) {
        switch (c) {
            case clause::from: return "FROM";
            case clause::join: return "a JOIN condition";
            case clause::where: return "WHERE";
            case clause::group_by: return "GROUP BY";
            case clause::having: return "HAVING";
            case clause::window: return "a window clause";
            case clause::order_by: return "ORDER BY";
            case clause::limit: return "LIMIT or OFFSET";
            case clause::filter: return "an aggregate's FILTER";
            case clause::function_argument: return "a function's argument";
            case clause::returning: return "RETURNING";
            case clause::values: return "VALUES";
            case clause::distinct: return "DISTINCT ON";
            case clause::target: return "an expression";
            default: return "an expression";
        }
    }

    refusal refuse(const carried& m, int location, std::string_view how, std::string column = {},
                   std::string hint = {}) const {
        if (column.empty() && m.relation)
            column = m.relation->schema + "." + m.relation->name + "." + m.relation->columns[m.column];
        return refusal{policy::rule::column,
                       fmt::format("pgsieve: column \"{}\" is masked ({}) for policy \"{}\" and may only be selected "
                                   "as is; it is used {}",
                                   column, config::to_string(m.method), ctx_.policy.name, how),
                       "rule: mask (a masked column may appear only as a bare output column, so that nothing the "
                       "statement returns depends on its value)",
                       hint.empty() ? fmt::format("select {} on its own, with no condition, sort, grouping or "
                                                  "function on it",
                                                  column.substr(column.rfind('.') + 1))
                                    : std::move(hint),
                       location, {}};
    }

    const parser::statement_facts& f_;
    const resolution& res_;
    const context& ctx_;
    std::map<std::pair<int, std::size_t>, std::optional<carried>> outputs_;
};

}  // namespace

verdict check_masks(const parser::statement_facts& f, const resolution& res, const check_scope& s, bool top,
                    decision& out) {
    if (s.ctx.policy.masks.empty()) return std::nullopt;
    return mask_check(f, res, s.ctx).run(top, out);
}

}  // namespace pgsieve::policy::detail
