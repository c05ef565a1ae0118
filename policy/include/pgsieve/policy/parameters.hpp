#pragma once
// The one place that decides whether a client may give a session parameter
// a value, at startup (startup packet, `options`) or later (SET).

#include <pgsieve/config/config.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgsieve::policy {

// PostgreSQL's reading of a time-valued setting ('5s', '250', '1.5 min'):
// milliseconds, or nullopt when PostgreSQL would reject the value.
[[nodiscard]] std::optional<std::int64_t> parameter_milliseconds(std::string_view value);

// Why `name = value` is refused for this policy (a message for the client),
// or nullopt when it may be set. search_path is decided by the caller.
[[nodiscard]] std::optional<std::string> parameter_refusal(std::string_view name, std::string_view value,
                                                           const config::policy& policy);

// What a refusal's hint lists.
inline constexpr std::string_view settable_parameters_hint =
    "allowed: application_name, client_encoding (UTF8), DateStyle, TimeZone, IntervalStyle, extra_float_digits, "
    "bytea_output, statement_timeout and lock_timeout up to the policy's, idle_in_transaction_session_timeout";

}  // namespace pgsieve::policy
