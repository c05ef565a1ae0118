#include <pgsieve/session/in_flight.hpp>

namespace pgsieve::session {

namespace {
bool ends_with_ready_for_query(request_kind k) {
    return k == request_kind::sync || k == request_kind::query || k == request_kind::function_call;
}
}  // namespace

void in_flight::push(request r, clock::time_point now, std::vector<outcome>& done) {
    r.seq = ++pushed_;
    queue_.push_back(entry{std::move(r), {}});
    if (!discarding_) return;
    // discarding_ is set only once the queue ran empty: this is its only entry.
    if (queue_.back().req.kind == request_kind::sync) discarding_ = false;
    else finish_front(now, done, true);
}

void in_flight::finish_front(clock::time_point now, std::vector<outcome>& done, bool skipped) {
    auto& e = queue_.front();
    outcome o = std::move(e.result);
    o.kind = e.req.kind;
    o.name = e.req.name;
    o.sql = e.req.sql;
    o.decision = e.req.decision;
    o.refused = e.req.refused;
    o.skipped = skipped;
    o.ticket = e.req.first_ticket;
    o.internal = e.req.internal;
    o.write_limited = e.req.write_limited;
    o.duration = std::chrono::duration_cast<std::chrono::microseconds>(now - e.req.sent);
    done.push_back(std::move(o));
    queue_.pop_front();
}

void in_flight::finish_query_statement(entry& e, clock::time_point now, std::vector<outcome>& done) {
    outcome o = std::move(e.result);
    o.kind = request_kind::query;
    o.sql = e.req.sql;
    o.decision = e.req.decision;
    o.refused = e.req.refused;
    o.statement_index = e.results++;
    o.ticket = e.req.first_ticket + o.statement_index;
    o.duration = std::chrono::duration_cast<std::chrono::microseconds>(now - e.req.sent);
    done.push_back(std::move(o));
    e.result = outcome{};
}

void in_flight::fail(std::string_view body, clock::time_point now, std::vector<outcome>& done) {
    auto err = wire::parse_error_response(body);
    auto& e = queue_.front();
    e.result.error = err ? std::move(*err) : wire::received_error{"ERROR", "", "unreadable ErrorResponse", "", ""};
    if (e.req.kind == request_kind::query) {
        // A failed statement ends the Query's work; ReadyForQuery follows.
        finish_query_statement(e, now, done);
        return;
    }
    if (e.req.kind == request_kind::sync || e.req.kind == request_kind::function_call) return;  // e.g. COMMIT failing
    finish_front(now, done);
    // PostgreSQL discards every message up to the next Sync, including
    // those the client has not sent yet.
    while (!queue_.empty() && queue_.front().req.kind != request_kind::sync) finish_front(now, done, true);
    if (queue_.empty()) discarding_ = true;
}

void in_flight::abandon(clock::time_point now, std::vector<outcome>& done) {
    while (!queue_.empty()) {
        auto& e = queue_.front();
        // It may or may not have run: PostgreSQL rolls back an open transaction when we close.
        if (!e.result.error)
            e.result.error = wire::received_error{"ERROR", "08006", "the connection closed before the reply came", "", ""};
        finish_front(now, done);
    }
}

std::optional<settled> in_flight::on_backend_message(char type, std::string_view body, std::size_t frame_size,
                                                    clock::time_point now, std::vector<outcome>& done) {
    namespace be = wire::backend;
    switch (type) {
        // Asynchronous: may arrive at any time, answer nothing.
        case be::notice_response:
        case be::notification_response:
        case be::parameter_status:
            return std::nullopt;
        default:
            break;
    }
    if (queue_.empty()) {
        // PostgreSQL ends an idle session with a FATAL of its own
        // (pg_terminate_backend, shutdown, idle timeouts): no request asked.
        if (type == be::error_response) {
            const auto e = wire::parse_error_response(body);
            if (e && (e->severity == "FATAL" || e->severity == "PANIC")) return std::nullopt;
        }
        ++desyncs_;
        return std::nullopt;
    }
    auto& front = queue_.front();
    const auto kind = front.req.kind;
    switch (type) {
        case be::parse_complete:
        case be::bind_complete:
        case be::close_complete:
            if ((type == be::parse_complete && kind != request_kind::parse) ||
                (type == be::bind_complete && kind != request_kind::bind) ||
                (type == be::close_complete && kind != request_kind::close))
                ++desyncs_;
            finish_front(now, done);
            return std::nullopt;
        case be::parameter_description:
            if (kind != request_kind::describe) ++desyncs_;
            return std::nullopt;
        case be::row_description:
        case be::no_data:
            if (kind == request_kind::describe) finish_front(now, done);
            else if (kind != request_kind::query || type == be::no_data) ++desyncs_;
            return std::nullopt;  // a Query's result set begins
        case be::data_row:
        case be::copy_data:
            if (kind != request_kind::query && kind != request_kind::execute) ++desyncs_;
            front.result.rows += 1;
            front.result.bytes += frame_size;
            return std::nullopt;
        case be::copy_in_response:
        case be::copy_out_response:
        case be::copy_both_response:
        case be::copy_done:
            if (kind != request_kind::query && kind != request_kind::execute) ++desyncs_;
            return std::nullopt;
        case be::command_complete:
        case be::empty_query_response: {
            if (kind != request_kind::query && kind != request_kind::execute) ++desyncs_;
            if (type == be::command_complete) {
                if (const auto tag = wire::parse_command_complete(body)) front.result.command_tag = *tag;
            }
            if (kind == request_kind::query) finish_query_statement(front, now, done);
            else finish_front(now, done);
            return std::nullopt;
        }
        case be::portal_suspended:
            if (kind != request_kind::execute) ++desyncs_;
            front.result.command_tag = "(suspended)";
            finish_front(now, done);
            return std::nullopt;
        case be::function_call_response:
            if (kind != request_kind::function_call) ++desyncs_;
            return std::nullopt;  // ReadyForQuery ends it
        case be::error_response:
            fail(body, now, done);
            return std::nullopt;
        case be::ready_for_query: {
            // Ends the front Sync or Query; anything before it was not answered.
            while (!queue_.empty() && !ends_with_ready_for_query(queue_.front().req.kind)) {
                ++desyncs_;
                finish_front(now, done, true);
            }
            if (queue_.empty()) {
                ++desyncs_;
                return std::nullopt;
            }
            settled s;
            s.last_ticket = queue_.front().req.first_ticket + queue_.front().req.tickets - 1;
            if (const auto status = wire::parse_ready_for_query(body)) s.transaction_status = *status;
            if (queue_.front().req.kind == request_kind::query) {
                queue_.pop_front();  // its statements were emitted as they completed
            } else {
                finish_front(now, done);
            }
            return s;
        }
        default:
            ++desyncs_;  // a message type no request is answered with
            return std::nullopt;
    }
}

}  // namespace pgsieve::session
