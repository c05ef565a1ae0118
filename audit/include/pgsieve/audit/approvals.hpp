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
