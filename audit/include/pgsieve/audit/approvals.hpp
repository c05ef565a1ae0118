#pragma once
// Writes held for approval, as the audit file keeps them: each ticket is an
// `approval_requested` event the server recorded (with everything a person
// needs to decide), and each decision a row of approval_decisions that
// `pgsieve approve` writes and the server reads back (at most one per
// ticket). Uses are `approval_used` events.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/common/time.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::audit {

struct approval_decision {
    std::int64_t id = 0;  // increasing: the server reads those after the last it applied
    std::string ticket;
    bool approved = false;
    std::string reason;
    std::string decided_by;
    std::string decided_at;
};

// What `pgsieve approve` shows and checks before it decides.
struct approval_record {
    // From the approval_requested event.
    std::string client, policy, sql, table, command, expires_at;
    std::string parameters;  // a JSON array
    std::int64_t rows = 0;
    std::optional<approval_decision> decision;
    bool used = false;
};

// The ticket's request, decision and use; nullopt when the file has no such ticket.
[[nodiscard]] expected<std::optional<approval_record>, std::string> find_approval(const std::string& path,
                                                                                const std::string& ticket);
// Records a person's decision. Fails when the ticket was decided already.
[[nodiscard]] expected<void, std::string> record_approval_decision(const std::string& path,
                                                                   const approval_decision& decision);

// -- The central store's copy, for a fleet (central_store.cpp's approvals table) --

using store_row = std::vector<std::optional<std::string>>;

// `pgsieve approve TICKET --db postgresql://…`: the queries that find a
// ticket (its request, decision, use), then the record they describe.
std::vector<std::string> store_find_approval_sql(std::string_view ticket);
[[nodiscard]] expected<std::optional<approval_record>, std::string> approval_from_store(
    const std::vector<std::vector<store_row>>& answers);
// Records a person's decision as the role they logged in with.
std::string store_decide_approval_sql(const approval_decision& decision);

// A replica's calls: publish a ticket it opened (its approval_requested
// detail), claim an approved ticket's one use (NULL: taken; else why not),
// and read every row after `after` (at most 1000; the columns of
// store_approval_column, in that order).
std::string store_request_approval_sql(std::string_view ticket, std::string_view detail_json);
std::string store_claim_approval_sql(std::string_view ticket, std::uint64_t rows);
std::string store_approvals_since_sql(std::int64_t after);
enum class store_approval_column {
    seq, ticket, kind, instance, decided_by, at_ms, reason,
    // A request's: what the ticket binds and says.
    client, policy, grants_version, sql, bind_parameters, table, command, rows, timeout_ms, expires_ms,
};

// The server's reader of decisions, kept open.
class approval_decisions {
public:
    [[nodiscard]] static expected<approval_decisions, std::string> open(const std::string& path);
    approval_decisions(approval_decisions&&) noexcept;
    approval_decisions& operator=(approval_decisions&&) noexcept;
    ~approval_decisions();
    // Decisions with an id above `after`, in order.
    [[nodiscard]] expected<std::vector<approval_decision>, std::string> since(std::int64_t after);

private:
    struct impl;
    explicit approval_decisions(std::unique_ptr<impl> i);
    std::unique_ptr<impl> impl_;
};

}  // namespace pgsieve::audit
