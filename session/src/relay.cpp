// The steady state: messages framed (not decoded) in both directions; the
// few the proxy acts on are read, decided (enforce.cpp) and queued in flight.

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

constexpr std::uint32_t max_upstream_message_bytes = 1u << 30;

// Moves `in[0, n)` to the end of `out` — by swapping the buffers when that
// is all of `in` and `out` is empty, the common case.
void move_prefix(std::string& in, std::size_t n, std::string& out) {
    if (n == 0) return;
    if (n == in.size() && out.empty()) {
        std::swap(in, out);
        return;
    }
    out.append(in, 0, n);
    in.erase(0, n);
}

request make_request(request_kind kind, std::string_view name, std::string_view sql, clock::time_point now) {
    request r;
    r.kind = kind;
    r.name = name;
    r.sql = sql;
    r.sent = now;
    return r;
}

// The request a client message asks the server to answer, if any.
std::optional<request> request_of(const wire::frame& f, clock::time_point now, std::string& malformed) {
    namespace fe = wire::frontend;
    auto fail = [&](const std::string& e) {
        malformed = e;
        return std::nullopt;
    };
    switch (f.type) {
        case fe::query: {
            const auto m = wire::parse_query(f.body);
            if (!m) return fail(m.error());
            return make_request(request_kind::query, {}, m->sql, now);
        }
        case fe::parse: {
            const auto m = wire::parse_parse(f.body);
            if (!m) return fail(m.error());
            return make_request(request_kind::parse, m->statement, m->sql, now);
        }
        case fe::bind: {
            const auto m = wire::parse_bind(f.body);
            if (!m) return fail(m.error());
            return make_request(request_kind::bind, m->portal, {}, now);
        }
        case fe::execute: {
            const auto m = wire::parse_execute(f.body);
            if (!m) return fail(m.error());
            return make_request(request_kind::execute, m->portal, {}, now);
        }
        case fe::describe: {
            const auto m = wire::parse_describe(f.body);
            if (!m) return fail(m.error());
            return make_request(request_kind::describe, m->name, {}, now);
        }
        case fe::close: {
            const auto m = wire::parse_close(f.body);
            if (!m) return fail(m.error());
            return make_request(request_kind::close, m->name, {}, now);
        }
        case fe::sync: return make_request(request_kind::sync, {}, {}, now);
        case fe::function_call: return make_request(request_kind::function_call, {}, {}, now);
        default: return std::nullopt;
    }
}

}  // namespace

relay_status session::relay_client(clock::time_point now) {
    namespace fe = wire::frontend;
    const std::string_view input = client_in_;
    std::size_t consumed = 0;
    std::size_t forwarded = 0;  // input before this was copied to upstream_out_ already
    bool terminate = false;
    std::string substitute;
    while (!terminate) {
        const auto r = wire::decode_frame(input.substr(consumed),
                                          static_cast<std::uint32_t>(cfg_->listen.max_message_bytes));
        if (r.status == wire::decode_status::need_more) break;
        if (r.status == wire::decode_status::error) {
            fail(wire::sqlstate::protocol_violation, "pgsieve: " + r.error);
            return relay_status::close;
        }
        const wire::frame& f = r.message;
        std::string malformed;
        switch (f.type) {
            case fe::query: case fe::parse: case fe::bind: case fe::execute: case fe::describe:
            case fe::close: case fe::sync: case fe::function_call: case fe::flush:
            case fe::copy_data: case fe::copy_done: case fe::copy_fail:
                break;
            case fe::terminate:
                terminate = true;
                break;
            default:
                malformed = fmt::format("invalid frontend message type {}", static_cast<int>(f.type));
        }
        auto req = malformed.empty() ? request_of(f, now, malformed) : std::nullopt;
        if (!malformed.empty()) {
            fail(wire::sqlstate::protocol_violation, "pgsieve: " + malformed);
            return relay_status::close;
        }
        if (req) {
            if (f.type == fe::close) {
                const auto m = wire::parse_close(f.body);
                if (m->kind == 'S') statements_.erase(std::string(m->name));
                else portals_.erase(std::string(m->name));
            }
            substitute.clear();
            if (enforce(f, *req, substitute)) {
                // Forward what came before, then the substitute in this message's place.
                upstream_out_.append(input.substr(forwarded, consumed - forwarded));
                upstream_out_ += substitute;
                forwarded = consumed + f.size;
                req->refused = true;
            }
            in_flight_.push(std::move(*req));
        }
        consumed += f.size;
    }
    if (forwarded == 0) {
        move_prefix(client_in_, consumed, upstream_out_);
    } else {
        upstream_out_.append(input.substr(forwarded, consumed - forwarded));
        client_in_.erase(0, consumed);
    }
    if (terminate) {
        close_reason_ = "client sent Terminate";
        state_ = state::closing;
        return relay_status::close;
    }
    return relay_status::keep_going;
}

relay_status session::relay_upstream(clock::time_point now) {
    const std::string_view input = upstream_in_;
    std::size_t consumed = 0;
    std::size_t forwarded = 0;
    for (;;) {
        const auto r = wire::decode_frame(input.substr(consumed), max_upstream_message_bytes);
        if (r.status == wire::decode_status::need_more) break;
        if (r.status == wire::decode_status::error) {
            fail(wire::sqlstate::connection_failure, "pgsieve: the upstream server sent an invalid message");
            return relay_status::close;
        }
        const wire::frame& f = r.message;
        const request* front = in_flight_.front();
        namespace be = wire::backend;
        bool truncated = false;
        // max_rows: rows beyond the limit are dropped as they arrive, and the
        // result's completion becomes ERROR 54000.
        if (max_rows_ > 0) {
            if (f.type == be::data_row || f.type == be::copy_data) {
                if (++result_rows_ > max_rows_) {
                    client_out_.append(input.substr(forwarded, consumed - forwarded));
                    forwarded = consumed + f.size;
                    result_truncated_ = true;
                }
            } else if (f.type == be::command_complete || f.type == be::portal_suspended ||
                       f.type == be::error_response || f.type == be::row_description) {
                if (result_truncated_ && f.type != be::row_description && f.type != be::error_response) {
                    client_out_.append(input.substr(forwarded, consumed - forwarded));
                    wire::error_fields e;
                    e.sqlstate = std::string(wire::sqlstate::program_limit_exceeded);
                    e.message = fmt::format("pgsieve: result exceeds max_rows={}; add a LIMIT", max_rows_);
                    e.detail = fmt::format("rule: max_rows (rows after the first {} were not returned)", max_rows_);
                    e.hint = fmt::format("add LIMIT {} or narrow the query", max_rows_);
                    wire::write_error_response(client_out_, e);
                    forwarded = consumed + f.size;
                    truncated = true;
                }
                result_rows_ = 0;
                result_truncated_ = false;
            }
        }
        bool redacted = false;
        if (f.type == wire::backend::error_response && front && !front->refused && front->decision &&
            front->decision->redact_errors && wire::error_has_field(f.body, "DW")) {
            // Integrity errors print the failing row or key (DETAIL), and
            // function contexts can quote values (WHERE): not for a client
            // whose policy hides some columns of the tables involved.
            const auto rewritten = wire::rewrite_error_response(
                f.type, f.body, "DW",
                fmt::format("pgsieve: the server's detail was withheld: it may show values of columns policy \"{}\" "
                            "does not allow",
                            client_ ? client_->policy : std::string()));
            if (rewritten) {
                client_out_.append(input.substr(forwarded, consumed - forwarded));
                client_out_ += *rewritten;
                forwarded = consumed + f.size;
                redacted = true;
            }
        }
        if (f.type == wire::backend::error_response && front && front->refused && front->decision) {
            // The substitute's error: say why pgsieve refused instead.
            const auto& d = *front->decision;
            client_out_.append(input.substr(forwarded, consumed - forwarded));
            wire::error_fields e;
            e.sqlstate = d.sqlstate.empty() ? std::string(wire::sqlstate::insufficient_privilege) : d.sqlstate;
            // MCP servers hand the model only the error's message, so the
            // hint travels in it too (and, for people, in HINT as usual).
            e.message = d.hint.empty() ? d.message : fmt::format("{}; hint: {}", d.message, d.hint);
            e.detail = d.detail;
            e.hint = d.hint;
            e.position = d.position;
            wire::write_error_response(client_out_, e);
            forwarded = consumed + f.size;
        }
        const auto finished = outcomes_.size();
        in_flight_.on_backend_message(f.type, f.body, f.size, now, outcomes_);
        if (truncated && outcomes_.size() > finished) outcomes_.back().truncated = true;
        if (redacted && outcomes_.size() > finished) outcomes_.back().redacted = true;
        consumed += f.size;
    }
    if (forwarded == 0) {
        move_prefix(upstream_in_, consumed, client_out_);
    } else {
        client_out_.append(input.substr(forwarded, consumed - forwarded));
        upstream_in_.erase(0, consumed);
    }
    return relay_status::keep_going;
}

}  // namespace pgsieve::session
