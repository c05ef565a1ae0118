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

#include <optional>
#include <string>
#include <vector>

namespace pgsieve::policy::detail {

struct relation_use {
    const relation_info* relation = nullptr;
    int location = -1;
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
};

struct resolution {
    std::vector<relation_use> relations;
    std::vector<column_read> reads;
    const relation_info* target = nullptr;  // INSERT/UPDATE/DELETE/COPY target
    std::vector<int> cte_references;        // locations of relation names that named a CTE
    std::optional<problem> unresolved;
};

// `path`: the schemas unqualified names are searched in (resolution_path()).
resolution resolve(const parser::statement_facts& facts, const catalog& cat, const std::vector<std::string>& path);

}  // namespace pgsieve::policy::detail
