#pragma once
// Writes held for a human (a policy's `approval:`, DESIGN.md §3). A held
// write is not run: pgsieve runs it once in a transaction it always rolls
// back, to learn from PostgreSQL how many rows it changes, and opens a
// ticket bound to the client, the exact text, the parameter values and the
// policy version. A person approves or rejects the ticket (`pgsieve
// approve`); the same statement sent again then runs in lockstep and is
// committed only if it changes exactly the approved number of rows, once.
//
// The book is this replica's copy. A single replica records tickets in its
// audit file, where `pgsieve approve` writes decisions that the server reads
// back. A fleet (the central audit store configured) keeps them in the
// store, where every replica publishes the tickets it opens and reads
// everyone's tickets, decisions and uses (net/approval_desk); an approved
// ticket's one use is then claimed in the store before its write commits,
// so two replicas cannot both run it.

#include <pgsieve/common/time.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pgsieve::session {

// What a ticket binds: the statement exactly as it would run again.
struct approval_binding {
    std::string client;
    std::string grants_version;  // config::config::grants_version: the same on every replica
    std::string sql;
    std::string parameters;  // the Bind's format codes and values, as sent (empty: none)
    bool operator==(const approval_binding&) const = default;
    auto operator<=>(const approval_binding&) const = default;
};

// A Bind's parameter values (its format codes and values, as a ticket
// binds them) as a JSON array for the person deciding: text values as
// strings, binary ones as "\\x…" hex, NULL as null.
std::string parameters_json(std::string_view bind_parameters);

enum class ticket_state { pending, approved, rejected, used, voided };
std::string_view to_string(ticket_state s);

struct approval_ticket;
// Whether a ticket still decides its statement: pending, approved or
// rejected, and not expired (else a new request opens a new ticket).
bool live(const approval_ticket& t, sys_time now);

struct approval_ticket {
    std::string id;  // AP-XXXXXX
    approval_binding binding;
    std::string policy;
    std::string table;
    std::string command;  // UPDATE, DELETE, INSERT
    std::uint64_t rows = 0;
    ticket_state state = ticket_state::pending;
    sys_time created{};
    // Pending: when it lapses undecided; approved: by when it must be used.
    sys_time expires{};
    std::chrono::milliseconds timeout{0};
    std::string reason;      // a rejection's, or why it was voided
    std::string decided_by;
};

// A held write, counted: what a new ticket is opened for.
struct approval_request {
    approval_binding binding;
    std::string table;
    std::string command;
    std::uint64_t rows = 0;
    std::optional<approval_ticket> replaces;  // a used, expired or voided ticket for the same statement
};

// An approved ticket's one use, to claim in the central store (a fleet).
struct approval_claim {
    std::string ticket;
    std::uint64_t rows = 0;  // what the re-run changed (recorded with the use)
};

class approval_book {
public:
    // The latest ticket bound to `b`, whatever its state, if any is kept.
    std::optional<approval_ticket> latest(const approval_binding& b) const;
    // Opens a ticket for a counted write.
    approval_ticket open(approval_binding b, std::string policy, std::string table, std::string command,
                         std::uint64_t rows, std::chrono::milliseconds timeout, sys_time now);
    // A person's decision (read back from the audit file). False when the
    // ticket is unknown or no longer pending.
    bool decide(const std::string& id, bool approved, std::string reason, std::string by, sys_time now);
    // An approved ticket's one use; false if it was used (or is no longer approved).
    bool use(const std::string& id);
    // A re-run that did not match (another row count): the ticket is spent.
    void void_ticket(const std::string& id, std::string why);
    std::optional<approval_ticket> ticket(const std::string& id) const;

    // A fleet's book: uses are claimed in the central store (set once, at start).
    void set_fleet_wide(bool on) { fleet_wide_ = on; }
    bool fleet_wide() const { return fleet_wide_; }
    // A ticket another replica opened, as the store holds it.
    enum class imported {
        added,
        known,     // this book has it already (the same statement)
        conflict,  // this book has a ticket of that id for another statement: it is voided
    };
    imported import(approval_ticket t, sys_time now);
    // A use the store recorded (here or on another replica).
    void mark_used(const std::string& id);

    // Tickets kept at most (the oldest expired ones go first; past it no new
    // ticket opens and held writes are refused).
    static constexpr std::size_t max_tickets = 10000;
    bool full(sys_time now);

private:
    void prune(sys_time now);  // forgets tickets expired for a while
    void remember(approval_ticket t);
    sys_time last_prune_{};
    bool fleet_wide_ = false;
    mutable std::mutex mutex_;
    std::map<std::string, approval_ticket> by_id_;
    std::map<approval_binding, std::string> by_binding_;
};

}  // namespace pgsieve::session
