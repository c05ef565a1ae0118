#include "write_guardrail.hpp"

#include <set>

namespace pgsieve::policy::detail {

namespace {

using parser::expr;

class bound_check {
public:
    bound_check(const parser::statement_facts& f, const resolution& res) : f_(f), res_(res) {}

    // Whether the condition `e` can be false or null for some rows of the target.
    bool bounds(int e) const {
        if (e < 0 || static_cast<std::size_t>(e) >= f_.exprs.size()) return false;
        const auto& x = f_.exprs[e];
        switch (x.what) {
            case expr::kind::boolean:
                if (x.variant == expr::and_) {
                    for (const int o : x.operands)
                        if (bounds(o)) return true;
                    return false;
                }
                if (x.variant == expr::or_) {
                    for (const int o : x.operands)
                        if (!bounds(o)) return false;
                    return !x.operands.empty();
                }
                // NOT of a comparison or of a boolean column bounds; NOT of
                // a test (NOT (id IS NULL) is id IS NOT NULL) or of anything wider does not.
                if (x.operands.size() != 1) return false;
                if (const auto& o = f_.exprs[x.operands[0]];
                    o.what != expr::kind::operator_ && o.what != expr::kind::column)
                    return false;
                return leaf_bounds(x.operands[0]);
            default:
                return leaf_bounds(e);
        }
    }

private:
    bool leaf_bounds(int e) const {
        const auto& x = f_.exprs[e];
        switch (x.what) {
            case expr::kind::column:
                return !target_columns(e).empty();  // a boolean column of the target
            case expr::kind::test:
                // IS NOT NULL (and IS NOT UNKNOWN) of a column holds for nearly every row.
                if (x.variant == expr::is_not_null || x.variant == expr::is_not_unknown) return false;
                return !target_columns(e).empty();
            case expr::kind::operator_: {
                // A comparison bounds when some side tests a target column
                // against a side that is not that same column set (id = id).
                std::vector<std::set<std::string>> sides;
                for (const int o : x.operands) sides.push_back(target_columns(o));
                for (std::size_t i = 0; i < sides.size(); ++i) {
                    if (sides[i].empty()) continue;
                    for (std::size_t j = 0; j < sides.size(); ++j)
                        if (j != i && sides[j] != sides[i]) return true;
                    if (sides.size() == 1) return true;  // a prefix operator on a target column
                }
                return false;
            }
            case expr::kind::sublink:
                // id IN (SELECT …) bounds by its test expression. Inside a
                // sub-query a column of the same table may be another row
                // (EXISTS (SELECT 1 FROM t t2 …)): a correlation is not read
                // as a bound; id IN (SELECT …) says the same thing.
                return !target_columns(e).empty();
            case expr::kind::function:
                return !target_columns(e).empty();
            default:
                return false;  // constants, parameters, CASE, COALESCE, anything else: not a bound pgsieve can read
        }
    }

    // The target's columns an expression's value depends on, outside sub-queries.
    std::set<std::string> target_columns(int e) const {
        std::set<std::string> out;
        collect(e, out);
        return out;
    }

    void collect(int e, std::set<std::string>& out) const {
        if (e < 0 || static_cast<std::size_t>(e) >= f_.exprs.size()) return;
        const auto& x = f_.exprs[e];
        if (x.what == expr::kind::column) {
            const auto it = res_.column_origins.find({x.query, x.ref});
            if (it != res_.column_origins.end())
                for (const auto& o : it->second)
                    if (o.what == origin::kind::base && o.relation == res_.target && o.column < o.relation->columns.size())
                        out.insert(o.relation->columns[o.column]);
        }
        for (const int o : x.operands) collect(o, out);
    }

    const parser::statement_facts& f_;
    const resolution& res_;
};

}  // namespace

std::optional<std::string> unbounded_write(const parser::statement_facts& f, const resolution& res) {
    if (!res.target || f.root < 0) return std::string("pgsieve cannot tell which table it changes");
    const auto& root = f.queries[f.root];
    // UPDATE t … FROM t AS u / DELETE FROM t USING t AS u: both name one
    // relation, and which of them a condition tests is not told apart here.
    for (const auto& r : root.ranges) {
        if (r.type != parser::range_entry::kind::relation || r.relation.name != res.target->name) continue;
        if (r.relation.schema.empty() || r.relation.schema == res.target->schema)
            return std::string("its table also appears in FROM/USING, so pgsieve cannot tell which one the WHERE "
                               "clause bounds");
    }
    if (root.where_expr < 0) return std::string("it has no WHERE clause");
    if (!bound_check(f, res).bounds(root.where_expr))
        return std::string("its WHERE clause does not limit the rows by a column of the table (a condition such as "
                           "true, 1 = 1, col IS NOT NULL or anything OR true holds for every row)");
    return std::nullopt;
}

}  // namespace pgsieve::policy::detail
