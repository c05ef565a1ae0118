#pragma once
// pgsieve's own knowledge of PostgreSQL's built-ins: the one place that lists
// dangerous functions, harmless volatile ones, the schema-discovery
// relations and helpers of `catalog: introspection`, and the session
// parameters a client may SET (STYLE.md habit 10).

#include <string_view>

namespace pgsieve::policy::builtins {

// Why a pg_catalog function is denied, or empty when it is not.
std::string_view denied_function(std::string_view name);
// Volatile, yet without side effects worth refusing (random, clock_timestamp…).
bool harmless_volatile(std::string_view name);
// A pg_catalog helper that reveals schema details: allowed only with
// `catalog: introspection`.
bool introspection_function(std::string_view name);
// A schema-discovery relation granted by `catalog: introspection`.
bool introspection_relation(std::string_view schema, std::string_view name);
// Session parameters a client may SET / RESET / SHOW without `show`.
bool safe_parameter(std::string_view name);

}  // namespace pgsieve::policy::builtins
