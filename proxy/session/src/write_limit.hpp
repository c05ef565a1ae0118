#pragma once
// max_rows_written (DESIGN.md §3): a write to a table that sets it is
// committed only when PostgreSQL's own count of the rows it changed is
// within the limit. While such a write runs the session reads no further
// client messages (lockstep), and its reply is held here until the
// CommandComplete says how many rows it changed:
//
// - an Execute (extended protocol) goes upstream with a Flush. The implicit
//   or explicit transaction it runs in cannot commit before the client's
//   Sync, which waits behind it.
// - a simple Query is committed by PostgreSQL before it says how many rows
//   it changed, so it is sent as Parse, Bind, Describe, Execute and Flush of
//   the same text (in the unnamed statement and portal, which a Query
//   replaces anyway), and ended with a Sync once the count is known.
//
// Over the limit, a Bind naming a statement that cannot exist fails the
// transaction: PostgreSQL rolls the write back (with its triggers' work) and
// skips the client's messages up to the next Sync, as after any failed
// statement. The client sees one statement either way: its RETURNING rows
// and completion, or pgsieve's error (54000) and nothing of the write.
//
// Writes held for approval (approvals.hpp) go the same way: counted, then
// always rolled back, with the new ticket in the error (PA001); or, under
// an approved ticket, committed only when they change exactly the approved
// number of rows, and only once (else PA003). In a fleet the one use is
// claimed in the central store first: the write's CommandComplete waits
// (unread, in the session's input) until the store answers.

#include <pgsieve/session/approvals.hpp>
#include <pgsieve/session/in_flight.hpp>
#include <pgsieve/wire/frame.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::session {

class write_limit {
public:
    explicit write_limit(approval_book& approvals) : approvals_(approvals) {}

    // A write is in progress: the client's next messages wait.
    bool active() const { return phase_ != phase::idle; }

    // Begins an allowed Query or Execute `req` whose decision carries
    // max_rows_written, or that is held for approval. Appends what is sent upstream in the message's place
    // to `upstream` and returns the requests it makes, in order (the write is
    // the one marked write_limited).
    std::vector<request> begin(const wire::frame& f, request req, std::string& upstream);

    // One upstream message answering a request of the write's (internal or
    // write_limited), or arriving while one is at the front. `relayed` is
    // what the relay would send the client for it (an error already
    // redacted). Appends to `client` what the client gets now, to
    // `upstream` what PostgreSQL must be sent next and to `sent` the
    // requests that makes (for the in-flight queue).
    void on_reply(char type, std::string_view body, std::string_view relayed, std::string& client,
                  std::string& upstream, std::vector<request>& sent);
    // A DataRow too long to hold (the relay streams it): the write is not
    // committed, since its RETURNING rows cannot all be returned.
    void on_row_not_held() { row_not_held_ = true; }

    // A write counted for approval, once its count is known: what the new
    // ticket is for (once; the session opens it and calls opened()).
    std::optional<approval_request> take_count() { return std::exchange(count_, std::nullopt); }
    // The ticket opened for it: its refusal names it.
    void opened(const approval_ticket& t);

    // A fleet: the approved ticket's use to claim in the central store
    // (once), while claim_pending(). The reply that asked for it is given
    // to on_reply() again after claimed(): nullopt when this write took the
    // use, else why not.
    std::optional<approval_claim> take_claim() { return std::exchange(claim_request_, std::nullopt); }
    bool claim_pending() const { return claim_pending_; }
    void claimed(std::optional<std::string> refused);

    // The outcomes of the write's requests, once finished: the write is
    // recorded as the client sent it (a simple Query), with the error an
    // internal message met, or as rolled back over its limit. A write
    // PostgreSQL skipped (after an earlier error) ends the lockstep.
    void settle(std::vector<outcome>& done, std::size_t first);

private:
    enum class phase {
        idle,
        running,   // awaiting the write's CommandComplete
        aborting,  // over the limit: the failing Bind was sent
        syncing,   // a simple Query's Sync was sent: awaiting ReadyForQuery
    };
    void finish();
    // What the client is told in place of the failing Bind's error, and why
    // for the audit.
    struct refusal {
        std::string_view sqlstate;
        policy::rule rule = policy::rule::guardrail;
        std::string message;
        std::string detail;
        std::string hint;
    };
    // Decides at the write's CommandComplete: empty to commit, else why not.
    std::optional<refusal> judge();
    refusal limit_refusal(std::string why) const;
    static std::string error_response(const refusal& r);

    approval_book& approvals_;
    phase phase_ = phase::idle;
    request write_;        // the write's request, as sent (the model of pgsieve's own)
    bool simple_ = false;  // a simple Query sent as extended messages
    std::uint64_t limit_ = 0;
    std::string table_;
    std::string held_;        // RowDescription, RETURNING rows, notices: sent once the count is known
    std::string completion_;  // a simple Query's CommandComplete, sent with the Sync's ReadyForQuery
    std::uint64_t rows_seen_ = 0;
    bool row_not_held_ = false;
    request::approval_step approval_ = request::approval_step::none;
    std::optional<approval_ticket> ticket_;  // run: the approved one; count: the one it replaces
    approval_binding binding_;
    std::optional<approval_request> count_;
    std::string opened_;  // count: the ticket opened for it
    std::optional<approval_claim> claim_request_;
    bool claim_pending_ = false;
    bool claim_answered_ = false;
    std::optional<std::string> claim_refused_;
    // Why the write was rolled back (none: it was not).
    std::optional<refusal> refused_;
    std::string command_;  // UPDATE, DELETE, INSERT, as its completion says
    std::uint64_t changed_ = 0;
    bool count_known_ = false;
};

}  // namespace pgsieve::session
