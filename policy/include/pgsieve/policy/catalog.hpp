#pragma once
// A snapshot of the upstream catalog: what relations, columns, functions
// and operators exist, so names resolve as PostgreSQL would resolve them.
// Immutable once built; replaced whole when refreshed.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsieve::policy {

struct relation_info {
    std::string schema;
    std::string name;
    char kind = 'r';                   // pg_class.relkind: r table, v view, m matview, f foreign, p partitioned
    std::vector<std::string> columns;  // in attnum order, dropped columns left out
};

struct function_info {
    std::string schema;
    std::string name;
    char volatility = 'v';  // pg_proc.provolatile: i immutable, s stable, v volatile
    char kind = 'f';        // pg_proc.prokind: f function, a aggregate, w window, p procedure
};

struct operator_info {
    std::string schema;
    std::string name;
    std::string function_schema;
    std::string function_name;
};

class catalog {
public:
    catalog() = default;
    catalog(std::vector<relation_info> relations, std::vector<function_info> functions,
            std::vector<operator_info> operators);

    const relation_info* relation(const std::string& schema, const std::string& name) const;
    // Unqualified: pg_catalog first, then each schema of `search_path`.
    const relation_info* resolve_relation(const std::string& name, const std::vector<std::string>& search_path) const;

    // Every overload of schema.name (empty when none).
    const std::vector<function_info>* functions(const std::string& schema, const std::string& name) const;
    // Unqualified: the overloads in the first schema (pg_catalog, then the path) that has the name.
    const std::vector<function_info>* resolve_function(const std::string& name,
                                                       const std::vector<std::string>& search_path) const;

    // Operators named `name` outside pg_catalog.
    std::vector<const operator_info*> user_operators(const std::string& name) const;

    std::size_t relation_count() const { return relations_.size(); }

    // The upstream role pgsieve logs in as: a superuser or an owner of
    // granted tables is more than a dedicated reader should be.
    struct role_info {
        bool superuser = false;
        bool bypass_rls = false;
        std::vector<std::pair<std::string, std::string>> owned;  // schema, relation
    };
    role_info upstream_role;
    std::size_t function_count() const { return function_count_; }

private:
    std::map<std::pair<std::string, std::string>, relation_info> relations_;
    std::map<std::pair<std::string, std::string>, std::vector<function_info>> functions_;
    std::multimap<std::string, operator_info> user_operators_;
    std::size_t function_count_ = 0;
};

// The queries that read a snapshot (simple protocol, text results). Each
// row's columns are listed in the comment above each query.
namespace catalog_sql {
// schema, relation, relkind, column (NULL for a relation without columns)
extern const char* const relations;
// schema, function, provolatile, prokind
extern const char* const functions;
// schema, operator, function schema, function name (outside pg_catalog only)
extern const char* const operators;
// rolsuper, rolbypassrls, schema, relation it owns (NULLs when it owns none)
extern const char* const role;
}  // namespace catalog_sql

using row = std::vector<std::optional<std::string>>;
// Builds a snapshot from the rows of the three queries.
std::shared_ptr<const catalog> catalog_from_rows(const std::vector<row>& relations, const std::vector<row>& functions,
                                                 const std::vector<row>& operators, const std::vector<row>& role = {});

}  // namespace pgsieve::policy
