// The steady state: messages framed (not decoded) in both directions, the
// few the proxy acts on read, every request queued in flight.

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

constexpr std::uint32_t max_upstream_message_bytes = 1u << 30;

// Moves the first `n` bytes of `in` to the end of `out`; when that is all of
// `in` and `out` is empty, swaps the buffers instead of copying.
void move_prefix(std::string& in, std::size_t n, std::string& out) {
    if (n == 0) return;
    if (n == in.size() && out.empty()) {
        std::swap(in, out);
        return;
    }
    out.append(in, 0, n);
    in.erase(0, n);
}

}  // namespace

relay_status session::relay_client(clock::time_point now) {
    namespace fe = wire::frontend;
    std::string_view input = client_in_;
    std::size_t consumed = 0;
    bool terminate = false;
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
        auto track = [&](auto parsed, request_kind kind, auto&& name_of, auto&& sql_of) {
            if (!parsed) {
                malformed = parsed.error();
                return;
            }
            in_flight_.push(request{kind, std::string(name_of(*parsed)), std::string(sql_of(*parsed)), now});
        };
        auto none = [](const auto&) { return std::string_view(); };
        // Each request the server will answer is queued in flight. This is
        // where policy decides Query, Parse, Bind, Execute and FunctionCall
        // before they are forwarded (issues 4 and 5); today all are relayed.
        switch (f.type) {
            case fe::query:
                track(wire::parse_query(f.body), request_kind::query, none, [](auto& m) { return m.sql; });
                break;
            case fe::parse:
                track(wire::parse_parse(f.body), request_kind::parse, [](auto& m) { return m.statement; },
                      [](auto& m) { return m.sql; });
                break;
            case fe::bind:
                track(wire::parse_bind(f.body), request_kind::bind, [](auto& m) { return m.portal; }, none);
                break;
            case fe::execute:
                track(wire::parse_execute(f.body), request_kind::execute, [](auto& m) { return m.portal; }, none);
                break;
            case fe::describe:
                track(wire::parse_describe(f.body), request_kind::describe, [](auto& m) { return m.name; }, none);
                break;
            case fe::close:
                track(wire::parse_close(f.body), request_kind::close, [](auto& m) { return m.name; }, none);
                break;
            case fe::sync:
                in_flight_.push(request{request_kind::sync, {}, {}, now});
                break;
            case fe::function_call:
                in_flight_.push(request{request_kind::function_call, {}, {}, now});
                break;
            case fe::flush:
            case fe::copy_data:
            case fe::copy_done:
            case fe::copy_fail:
                break;
            case fe::terminate:
                terminate = true;
                break;
            default:
                malformed = fmt::format("invalid frontend message type {}", static_cast<int>(f.type));
                break;
        }
        if (!malformed.empty()) {
            fail(wire::sqlstate::protocol_violation, "pgsieve: " + malformed);
            return relay_status::close;
        }
        consumed += f.size;
    }
    move_prefix(client_in_, consumed, upstream_out_);
    if (terminate) {
        close_reason_ = "client sent Terminate";
        state_ = state::closing;
        return relay_status::close;
    }
    return relay_status::keep_going;
}

relay_status session::relay_upstream(clock::time_point now) {
    std::string_view input = upstream_in_;
    std::size_t consumed = 0;
    for (;;) {
        const auto r = wire::decode_frame(input.substr(consumed), max_upstream_message_bytes);
        if (r.status == wire::decode_status::need_more) break;
        if (r.status == wire::decode_status::error) {
            fail(wire::sqlstate::connection_failure, "pgsieve: the upstream server sent an invalid message");
            return relay_status::close;
        }
        const wire::frame& f = r.message;
        in_flight_.on_backend_message(f.type, f.body, f.size, now, outcomes_);
        consumed += f.size;
    }
    move_prefix(upstream_in_, consumed, client_out_);
    return relay_status::keep_going;
}

}  // namespace pgsieve::session
