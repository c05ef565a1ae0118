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

#include <pgsieve/session/in_flight.hpp>
#include <pgsieve/wire/frame.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::session {

class write_limit {
public:
    // A write is in progress: the client's next messages wait.
    bool active() const { return phase_ != phase::idle; }

    // Begins an allowed Query or Execute `req` whose decision carries
    // max_rows_written. Appends what is sent upstream in the message's place
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
    // The refusal sent in place of the failing Bind's error.
    std::string refusal() const;

    phase phase_ = phase::idle;
    request write_;        // the write's request, as sent (the model of pgsieve's own)
    bool simple_ = false;  // a simple Query sent as extended messages
    std::uint64_t limit_ = 0;
    std::string table_;
    std::string held_;        // RowDescription, RETURNING rows, notices: sent once the count is known
    std::string completion_;  // a simple Query's CommandComplete, sent with the Sync's ReadyForQuery
    std::uint64_t rows_seen_ = 0;
    bool row_not_held_ = false;
    // Why the write was rolled back (empty: it was not).
    std::string rolled_back_;
    std::string command_;  // UPDATE, DELETE, INSERT, as its completion says
    std::uint64_t changed_ = 0;
    bool count_known_ = false;
};

}  // namespace pgsieve::session
