#pragma once
// The second wall, checked: what each upstream role may do in PostgreSQL,
// held against what its policies grant. Run on every catalog snapshot (the
// snapshot carries the roles' facts), at start by `serve`, and by
// `pgsieve check-config --upstream`.
//
//   stop            `serve` does not start: a superuser or BYPASSRLS role
//                   (unless upstream.allow_privileged_role), or anything
//                   wider than the policies under upstream.wider_privileges:
//                   refuse. Found on a later snapshot, it refuses the clients
//                   of the role's policies instead.
//   refuse_clients  the clients of the named policies get a FATAL at
//                   startup: the role does not exist, or a row-scoped table
//                   is not protected by row-level security as it must be.
//   warning         logged at start and whenever the findings change.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::policy {

enum class finding_level { stop, refuse_clients, warning };

struct upstream_finding {
    finding_level level = finding_level::warning;
    std::string role;
    std::vector<std::string> policies;  // whose clients it concerns
    std::string object;                 // the table, schema or role it is about ("" for the role itself)
    std::string message;                // what is wrong
    std::string fix;                    // the command that fixes it
};

struct upstream_report {
    std::vector<upstream_finding> findings;

    bool stops() const;
    // Why a client of `policy` cannot be served, if it cannot (the first
    // stop or refuse_clients finding that concerns it).
    const upstream_finding* refusal(std::string_view policy) const;
    // Findings as text, one a line, for logs and check-config.
    std::string summary() const;
};

[[nodiscard]] upstream_report check_upstream(const config::config& cfg, const catalog& cat);

std::string_view to_string(finding_level);

}  // namespace pgsieve::policy
