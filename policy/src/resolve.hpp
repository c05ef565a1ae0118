#pragma once
// Resolves every relation and column reference of one statement against a
// catalog, as PostgreSQL's parse analysis would: scopes, aliases, column
// aliases, CTE visibility (a non-recursive CTE does not see itself),
// derived tables, function results, LATERAL and correlated sub-queries,
// joins (aliased ones included, with USING/NATURAL merging), stars and
// whole-row references. The result is what the statement reads from real
// relations; anything it cannot resolve is a problem (refused).

#include <pgsieve/parser/facts.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pgsieve::policy::detail {

struct relation_use {
    const relation_info* relation = nullptr;
    int location = -1;
    std::string written;  // the name as the statement wrote it (schema.name or name)
};

struct column_read {
    const relation_info* relation = nullptr;
    std::string column;
    int location = -1;
    parser::clause where = parser::clause::other;
};

struct problem {
    std::string message;
    int location = -1;
    // A relation or column that does not exist: refused in the same words as
    // one the policy hides (refusal.hpp), naming it as written.
    enum class kind { other, relation, column } what = kind::other;
    std::string written;
};

// Where a value a column reference yields comes from, for working out its
// type: a base relation's column, an output column of a query (derived
// table, CTE, set operation), a FROM function's column, or the whole row of
// a query's outputs (a CTE's CYCLE path, a whole-row reference).
struct origin {
    // plain: a value of a known type that prints no name (ordinality, a system column).
    enum class kind { unknown, base, query_output, function_column, query_row, plain };
    kind what = kind::unknown;
    const relation_info* relation = nullptr;  // base
    std::size_t column = 0;                   // base: index into relation->columns; query_output: position
    int query = -1;                           // query_output, query_row; function_column: the FROM item's query
    int range = -1;                           // function_column: index into that query's ranges
    int function = -1;                        // function_column: which function of the item
    int function_column = -1;                 // function_column: its column (-1: the scalar result, or ordinality)
};
using origins = std::vector<origin>;

struct resolution {
    std::vector<relation_use> relations;
    std::vector<column_read> reads;
    const relation_info* target = nullptr;  // INSERT/UPDATE/DELETE/COPY target
    std::vector<int> cte_references;        // locations of relation names that named a CTE
    std::optional<problem> unresolved;
    // What each column reference (query, index into its columns) yields; a
    // whole-row reference yields every column's. A * or t.* yields one
    // entry per column it expands to, in order (star_columns).
    std::map<std::pair<int, int>, origins> column_origins;
    std::map<std::pair<int, int>, std::vector<origins>> star_columns;
    std::set<std::pair<int, int>> whole_rows;  // the references that are whole rows (SELECT t FROM t)
};

// `path`: the schemas unqualified names are searched in (resolution_path()).
resolution resolve(const parser::statement_facts& facts, const catalog& cat, const std::vector<std::string>& path);

// How many output columns query `q` has (a star counts the columns it
// expands to), and how many target `t` of it expands to.
std::size_t output_width(const parser::statement_facts& f, const resolution& res, int q);
std::size_t target_width(const parser::statement_facts& f, const resolution& res, int q, const parser::target& t);

}  // namespace pgsieve::policy::detail
