#pragma once
// pgsieve's own knowledge of PostgreSQL's built-ins: the one place that lists
// dangerous functions, harmless volatile ones (the schema-discovery
// relations and helpers of `catalog: introspection` are in discovery.cpp), the columns drivers
// read on connect, and the session parameters a client may set or read
// (STYLE.md habit 10).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsieve::policy::builtins {

// Why a pg_catalog function is denied, or empty when it is not.
std::string_view denied_function(std::string_view name);
// Volatile, yet without side effects worth refusing (random, clock_timestamp…).
bool harmless_volatile(std::string_view name);
// A schema-discovery relation granted by `catalog: introspection`.
bool introspection_relation(std::string_view schema, std::string_view name);
// Those of them that scoped discovery filters to the granted objects
// (discovery.cpp owns the lists), as (schema, name).
std::vector<std::pair<std::string, std::string>> scoped_discovery_relations();
// A catalog column drivers read on connect that names nothing: readable
// under every policy (postgres.js, pgJDBC, npgsql type lookups).
bool bootstrap_column(std::string_view schema, std::string_view relation, std::string_view column);
// Session parameters a client may set (startup, SET, RESET), lower-cased.
// statement_timeout and lock_timeout only up to the policy's timeout.
bool settable_parameter(std::string_view name);
// Parameters a client may read (SHOW, current_setting) without `show`.
bool readable_parameter(std::string_view name);

}  // namespace pgsieve::policy::builtins
