#pragma once
// Which startup parameters a client may set, and what the proxy sends
// upstream instead (DESIGN.md §2, "Startup"). Pure functions over values.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgsieve::session {

struct parameter_refusal {
    std::string parameter;  // as the client spelled it
    std::string message;    // why, for the FATAL
    std::string hint;
};

using parameter_list = std::vector<std::pair<std::string, std::string>>;

// Splits a startup `options` value into name=value settings, as PostgreSQL's
// pg_split_opts and process_postgres_switches read it: whitespace-separated,
// backslash escapes, "-c name=value", "-cname=value" or "--name=value".
// Any other switch is refused.
[[nodiscard]] expected<parameter_list, parameter_refusal> split_options(std::string_view options);

// Parses a search_path value into schema names as PostgreSQL stores them
// (unquoted names folded to lower case, quoted names kept).
[[nodiscard]] std::optional<std::vector<std::string>> parse_search_path(std::string_view value);

// The startup parameters sent upstream for a client whose own parameters
// (minus user, database, options, replication) are `requested`. Refuses any
// parameter policy::parameter_refusal refuses, a search_path of schemas the
// policy does not grant, and one given twice. The client's attributes go
// upstream as pgsieve.<name>: the session's reset value, for row-level security.
// The session contract's settings are always sent (see contract_breach).
[[nodiscard]] expected<parameter_list, parameter_refusal> upstream_parameters(const parameter_list& requested,
                                                                              const config::upstream_settings& upstream,
                                                                              const config::policy& policy,
                                                                              const config::client& client);

// The session contract: settings the analysis depends on, pinned at login
// (a startup parameter outranks ALTER ROLE/DATABASE … SET) and watched in
// every ParameterStatus PostgreSQL reports. libpg_query lexes with
// standard_conforming_strings on and reads UTF-8: with the setting off (or
// another client encoding), one string literal to pgsieve is a literal and
// a column to PostgreSQL. A read-only policy's sessions are read-only by
// default. Returns why (name, value) breaks the contract, or nullopt.
// search_path is pinned too, but PostgreSQL 15 does not report it: it can
// change only by statements pgsieve refuses (SET, set_config).
[[nodiscard]] std::optional<std::string> contract_breach(std::string_view name, std::string_view value,
                                                         const config::policy& policy);

}  // namespace pgsieve::session
