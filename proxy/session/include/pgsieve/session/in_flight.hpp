#pragma once
// The in-flight queue: every client request that PostgreSQL answers, in the
// order sent, matched with its replies as they come back, so each statement
// ends with its command tag, rows, bytes and error. Relaying never waits on
// it: it observes the upstream stream, it does not steer it.

#include <pgsieve/policy/decide.hpp>
#include <pgsieve/session/approvals.hpp>
#include <pgsieve/wire/backend.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::session {

using clock = std::chrono::steady_clock;

enum class request_kind { query, parse, bind, describe, execute, close, sync, function_call };

struct request {
    request_kind kind = request_kind::query;
    std::string name;  // the prepared statement (parse, bind, execute, describe/close 'S'), or portal
    std::string sql;   // the text it runs: sent (query, parse) or held under its name (bind, execute)
    clock::time_point sent{};
    // The policy's decision (query, parse, and bind/execute decided again);
    // refused requests were forwarded as a substitute whose error is rewritten.
    std::shared_ptr<const policy::decision> decision;
    // Describe: the described statement's decision, whose masked outputs
    // (policy::decision::masked) its RowDescription shows as text.
    std::shared_ptr<const policy::decision> masking;
    std::vector<std::int16_t> result_formats;  // Describe of a portal: named_entry::result_formats
    bool refused = false;
    // What is left of the client's rows and bytes budgets when it was sent
    // (UINT64_MAX: none): its result is cut where they end.
    std::uint64_t budget_rows = UINT64_MAX;
    std::uint64_t budget_bytes = UINT64_MAX;
    // Its statement-registry tickets: one per statement of a Query, else one.
    std::uint64_t first_ticket = 0;
    std::size_t tickets = 1;
    std::uint64_t seq = 0;       // the session's count of requests, set by in_flight::push
    bool internal = false;       // pgsieve's own message (write_limit.hpp): not the client's, not audited
    bool write_limited = false;  // a write under max_rows_written, held until its count is known
    // A write held for approval (approvals.hpp): `count` runs it once to
    // count its rows, always rolled back, and opens a ticket bound to
    // `binding`; `run` runs it under the approved `ticket`.
    enum class approval_step { none, count, run } approval = approval_step::none;
    approval_binding binding;
    std::optional<approval_ticket> ticket;  // run: the approved one; count: the one it replaces, if any
};

// One finished unit of work: a statement of a simple Query (one per result),
// or one extended-protocol message.
struct outcome {
    request_kind kind = request_kind::query;
    std::string name;
    std::string sql;
    std::string command_tag;
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;  // DataRow / CopyData bytes relayed to the client
    std::optional<wire::received_error> error;
    bool skipped = false;  // discarded by the server after an earlier error, before Sync
    std::chrono::microseconds duration{0};
    std::shared_ptr<const policy::decision> decision;
    bool refused = false;
    std::size_t statement_index = 0;  // a simple Query's statement this result belongs to
    std::uint64_t ticket = 0;         // its statement-registry ticket: confirmed when it succeeded
    bool truncated = false;           // rows beyond a limit were dropped, the result ended in 54000 (relay.cpp)
    bool capped = false;              // rows beyond a limit were dropped under on_exceed: truncate
    bool over_budget = false;         // rows beyond the client's rows or bytes budget were dropped (53400)
    std::uint64_t rows_sent = 0;      // of a truncated or capped result
    std::string_view limit_name;      // max_rows or max_result_bytes
    std::uint64_t limit_value = 0;
    bool redacted = false;            // the upstream error's DETAIL/WHERE were withheld (relay.cpp)
    bool internal = false;            // answers pgsieve's own message: not audited
    bool write_limited = false;
    bool rolled_back = false;         // over max_rows_written, or held for approval: rolled back and refused
    std::string rollback_reason;      // the refusal's message (write_limit.hpp)
    policy::rule rollback_rule = policy::rule::guardrail;
    std::string rollback_sqlstate;
    std::string approval_ticket;      // held for approval: the ticket opened for it, or used by it
};

// What an upstream message ended besides outcomes: a ReadyForQuery answers
// every request up to a Sync or Query, and may end a transaction.
struct settled {
    std::uint64_t last_ticket = 0;  // every registry ticket up to it is answered
    char transaction_status = 'I';
};

// Requests one session may have awaiting replies. Past it the session stops
// reading the client until PostgreSQL has answered some, as PostgreSQL
// itself stops reading when its replies back up: a client pipelining Syncs
// without reading (each ~450 bytes here) cannot grow the process.
inline constexpr std::size_t max_in_flight_requests = 8192;

class in_flight {
public:
    // A request just forwarded. After an extended-protocol error PostgreSQL
    // discards every message up to the next Sync, those sent later too:
    // such a request ends at once, skipped, in `done`.
    void push(request r, clock::time_point now, std::vector<outcome>& done);

    // Observes one upstream message; appends what it completes to `done`.
    // Returns what a ReadyForQuery settled.
    std::optional<settled> on_backend_message(char type, std::string_view body, std::size_t frame_size,
                                              clock::time_point now, std::vector<outcome>& done);

    // The connection closed: every request still waiting ends, unanswered.
    void abandon(clock::time_point now, std::vector<outcome>& done);

    std::size_t size() const { return queue_.size(); }
    const request* front() const { return queue_.empty() ? nullptr : &queue_.front().req; }
    bool empty() const { return queue_.empty(); }
    // Replies that matched no request: the proxy's picture of the session is
    // off, and the session closes the connection (fail closed).
    std::uint64_t desyncs() const { return desyncs_; }

private:
    struct entry {
        request req;
        outcome result;
        std::size_t results = 0;  // a simple Query's statements finished so far
    };
    void finish_front(clock::time_point now, std::vector<outcome>& done, bool skipped = false);
    // For a simple Query: emit one statement's result, keep the query open.
    void finish_query_statement(entry& e, clock::time_point now, std::vector<outcome>& done);
    void fail(std::string_view body, clock::time_point now, std::vector<outcome>& done);

    std::deque<entry> queue_;
    std::uint64_t pushed_ = 0;
    std::uint64_t desyncs_ = 0;
    bool discarding_ = false;  // an extended-protocol error and no Sync yet
};

}  // namespace pgsieve::session
