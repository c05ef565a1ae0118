#pragma once
// The database as the second wall: the SQL that creates or aligns each
// upstream role so that it holds exactly what its policies grant — schema
// USAGE, table- and column-level SELECT, the granted writes, the sequences
// those writes use, nothing else — and the row-level security policies of
// row-scoped tables. `pgsieve grants` prints it for a DBA to review and run;
// pgsieve never runs it.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::policy {

// What one upstream role may do: the union of its policies' grants.
struct role_grant {
    std::string role;
    std::vector<std::string> policies;
    std::set<std::string> schemas;  // USAGE
    struct table {
        const relation_info* relation = nullptr;
        bool all_columns = false;              // table-level SELECT
        std::vector<std::string> select;       // else these columns
        std::vector<std::string> insert, update;  // column-level
        bool delete_ = false;
        std::vector<std::pair<std::string, std::string>> sequences;  // USAGE, for INSERT
        // Row scoping, per policy: (policy, scope).
        std::vector<std::pair<std::string, config::row_scope>> rows;
    };
    std::vector<table> tables;
};

// What to do with a granted table or column the catalog lacks.
enum class missing_objects {
    fail,  // an error names it (pgsieve grants: the DBA must know)
    skip,  // nothing to grant there (the upstream check: the rest is still compared)
};

// The grants of every upstream role (of `only_policy`'s role, when given),
// worked out against the catalog.
[[nodiscard]] expected<std::vector<role_grant>, std::string> role_grants(
    const config::config& cfg, const catalog& cat, std::string_view only_policy = {},
    missing_objects missing = missing_objects::fail);

// The SQL text for those grants.
[[nodiscard]] std::string grants_sql(const config::config& cfg, const std::vector<role_grant>& grants);

// A row-level security policy's name for a pgsieve policy.
[[nodiscard]] std::string rls_policy_name(std::string_view policy);

}  // namespace pgsieve::policy
