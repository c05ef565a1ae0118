#include "connection.hpp"
#include "cancel_forward.hpp"
#include "tls.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::net {

namespace {
// Per read; buffers grow only when a message is larger.
constexpr std::size_t read_chunk = 16 * 1024;
// How often a session held by a full audit queue (on_overflow: wait) looks for room.
constexpr auto audit_poll_interval = std::chrono::milliseconds(5);

// Empties a written buffer. A large one is freed rather than kept: an idle
// session should hold only its two pending read buffers (DESIGN.md §6 asks
// for at most 64 KiB per idle connection).
void written(std::string& buffer) {
    if (buffer.capacity() > 4096) std::string().swap(buffer);
    else buffer.clear();
}
}  // namespace

connection::connection(tcp::socket socket, server_context& context, std::list<connection*>& live)
    : context_(context),
      live_(live),
      client_(std::move(socket)),
      // New sessions start with the configuration in force now (a reload
      // changes clients, verifiers and policies for the next connection).
      session_(context.shared.policies.current()->cfg, context.shared),
      timer_(client_.socket().get_executor()),
      upstream_progress_(client_.socket().get_executor()),
      audit_room_(client_.socket().get_executor()),
      started_(session::clock::now()),
      last_client_activity_(started_) {
    live_entry_ = live_.insert(live_.end(), this);
    error_code ec;
    client_.socket().set_option(tcp::no_delay(true), ec);
    const auto endpoint = client_.socket().remote_endpoint(ec);
    peer_ = ec ? "unknown" : fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
    session_.set_peer(ec ? "" : endpoint.address().to_string());
}

connection::~connection() {
    if (!done_) session_.on_closed(std::chrono::system_clock::now(), "pgsieve stopped");
    // pgsieve is stopping (its threads have): what the session left, and what
    // waited for room, is handed over even if that means waiting here.
    take_audit_records();
    if (context_.shared.audit && !audit_backlog_.empty()) context_.shared.audit->submit(std::move(audit_backlog_));
    live_.erase(live_entry_);
    release_slot();
}

void connection::take_audit_records() {
    auto records = session_.take_audit_records(std::chrono::system_clock::now());
    for (auto& r : records) {
        if (std::holds_alternative<audit::statement>(r)) ++statements_;
        audit_backlog_.push_back(std::move(r));
    }
}

awaitable<void> connection::submit_audit() {
    take_audit_records();
    auto* sink = context_.shared.audit;
    if (!sink) {
        audit_backlog_.clear();
        co_return;
    }
    // With audit.on_overflow: wait and a full queue, this session waits — its
    // replies are held — while its thread serves the others; the records
    // stay in audit_backlog_ meanwhile, so a shutdown still hands them over.
    while (!sink->try_submit(audit_backlog_)) {
        audit_room_.expires_after(audit_poll_interval);
        co_await audit_room_.async_wait(use_tuple);
    }
}

void connection::release_slot() {
    if (std::exchange(holds_slot_, false)) context_.connections.fetch_sub(1, std::memory_order_relaxed);
}

void connection::cancel_io() {
    client_.cancel();
    if (upstream_) upstream_->cancel();
    if (analysis_wait_) analysis_wait_->cancel();
    if (claim_wait_) claim_wait_->cancel();
    upstream_progress_.cancel();
}

void connection::terminate(std::string_view sqlstate, std::string message) {
    if (done_ || session_.closing()) return;
    session_.fail(sqlstate, std::move(message));
    cancel_io();
}

awaitable<void> connection::run() {
    auto self = shared_from_this();
    if (context_.connections.load() > context_.cfg->listen.max_connections)
        session_.refuse_at_startup(wire::sqlstate::too_many_connections, "sorry, too many clients already");
    asio::co_spawn(timer_.get_executor(), watchdog(), asio::detached);
    co_await drive();
    done_ = true;
    timer_.cancel();
    session_.on_closed(std::chrono::system_clock::now());
    co_await submit_audit();
    if (started_relay_) {
        log::info("session_end", {{"client", session_.client_name()},
                                  {"peer", peer_},
                                  {"statements", statements_},
                                  {"reason", session_.close_reason().empty() ? "closed" : session_.close_reason()}});
    } else if (!session_.close_reason().empty()) {
        log::warn("session_refused",
                  {{"client", session_.client_name()}, {"peer", peer_}, {"reason", session_.close_reason()}});
    }
}

awaitable<void> connection::watchdog() {
    auto self = shared_from_this();
    const auto& listen = session_.config().listen;
    while (!done_) {
        const bool authenticated = session_.authenticated();
        if (!authenticated) {
            timer_.expires_at(started_ + listen.auth_timeout);
        } else if (listen.idle_timeout.count() > 0) {
            timer_.expires_at(last_client_activity_ + listen.idle_timeout);
        } else {
            co_return;
        }
        auto [ec] = co_await timer_.async_wait(use_tuple);
        if (done_) co_return;
        if (ec) continue;  // woken early (authentication finished): re-arm for the new phase
        const auto now = session::clock::now();
        if (!session_.authenticated() && !session_.closing() && now >= started_ + listen.auth_timeout) {
            log::warn("auth_timeout", {{"peer", peer_}});
            session_.fail(wire::sqlstate::connection_failure, "pgsieve: authentication timed out");
            cancel_io();
            co_return;
        }
        if (session_.authenticated() && session_.idle() && listen.idle_timeout.count() > 0 &&
            now >= last_client_activity_ + listen.idle_timeout) {
            log::info("idle_timeout", {{"client", session_.client_name()}, {"peer", peer_}});
            session_.fail(wire::sqlstate::idle_session_timeout,
                          "terminating connection due to idle-session timeout");
            cancel_io();
            co_return;
        }
    }
}

awaitable<void> connection::drive() {
    using session::action;
    for (;;) {
        switch (session_.next()) {
            case action::read_client: {
                const auto ec = co_await client_.read_some(session_.client_input(), read_chunk);
                if (ec && !session_.closing()) session_.on_disconnect();
                break;
            }
            case action::write_client: {
                const auto ec = co_await client_.write_all(session_.client_output());
                written(session_.client_output());
                if (ec) session_.on_disconnect();
                break;
            }
            case action::client_tls_handshake: {
                if (!context_.client_tls) {  // cannot happen: listen.tls changes only on restart
                    session_.on_client_tls(false);
                    break;
                }
                const auto ec = co_await client_.tls_accept(*context_.client_tls);
                if (ec) log::warn("client_tls_failed", {{"peer", peer_}, {"error", ec.message()}});
                session_.on_client_tls(!ec, ec ? std::string() : server_end_point(client_.ssl()));
                break;
            }
            case action::connect_upstream:
                co_await connect_upstream();
                break;
            case action::upstream_tls_handshake: {
                const auto& u = session_.config().upstream;
                if (!context_.upstream_tls) {  // cannot happen: upstream TLS changes only on restart
                    session_.on_upstream_tls(false, "no TLS context for the upstream");
                    break;
                }
                const auto ec = co_await upstream_->tls_connect(*context_.upstream_tls, u.host,
                                                                u.ssl == config::sslmode::verify_full);
                session_.on_upstream_tls(!ec, ec.message());
                break;
            }
            case action::write_upstream: {
                const auto ec = co_await upstream_->write_all(session_.upstream_output());
                written(session_.upstream_output());
                if (ec) session_.fail(wire::sqlstate::connection_failure,
                                      fmt::format("pgsieve: upstream server: {}", ec.message()));
                break;
            }
            case action::read_upstream: {
                const auto ec = co_await upstream_->read_some(session_.upstream_input(), read_chunk);
                if (ec && !session_.closing())
                    session_.fail(wire::sqlstate::connection_failure,
                                  "pgsieve: the upstream server closed the connection during login");
                break;
            }
            case action::forward_cancel:
                co_await forward_cancel();
                co_return;
            case action::forward_cancel_to_peers:
                co_await forward_cancel_to_peers();
                co_return;
            case action::relay:
                timer_.cancel();  // the watchdog switches from auth_timeout to idle_timeout
                started_relay_ = true;
                log::info("session_start", {{"client", session_.client_name()},
                                            {"peer", peer_},
                                            {"application_name", session_.application_name()},
                                            {"tls", session_.client_tls() ? "on" : "off"}});
                co_await relay();
                break;
            case action::close:
                // Lingering for the client to read a FATAL must not take a
                // slot a new client could use.
                release_slot();
                if (upstream_) upstream_->close();
                co_await client_.close_gracefully();
                co_return;
        }
    }
}

awaitable<void> connection::connect_upstream() {
    const auto& u = session_.config().upstream;
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(u.host, std::to_string(u.port), use_tuple);
    if (rec) {
        session_.on_upstream_connected(false, rec.message());
        co_return;
    }
    tcp::socket socket(executor);
    auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
    if (cec) {
        session_.on_upstream_connected(false, cec.message());
        co_return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    upstream_.emplace(std::move(socket));
    session_.on_upstream_connected(true, {});
}

awaitable<void> connection::relay() {
    using namespace asio::experimental::awaitable_operators;
    co_await (client_to_upstream() && upstream_to_client());
    const auto final_output = session_.take_final_client_output();
    if (!final_output.empty()) co_await client_.write_all(final_output);
}

awaitable<bool> connection::relay_client_input() {
    for (;;) {
        const auto now = session::clock::now();
        last_client_activity_ = now;
        const auto status = session_.relay_client(now);
        if (!session_.upstream_output().empty()) {
            const auto ec = co_await upstream_->write_all(session_.upstream_output());
            written(session_.upstream_output());
            if (ec) co_return false;
        }
        if (status == session::relay_status::close) co_return false;
        if (status == session::relay_status::keep_going) co_return true;
        if (status == session::relay_status::wait_upstream) {
            // Too many requests await replies, or a write under
            // max_rows_written runs in lockstep: read no more until replies come.
            if (!session_.waiting_for_upstream()) continue;  // they came while writing
            upstream_progress_.expires_at(asio::steady_timer::time_point::max());
            waiting_for_upstream_ = true;
            co_await upstream_progress_.async_wait(use_tuple);
            waiting_for_upstream_ = false;
            if (session_.closing() || !upstream_) co_return false;
            continue;
        }
        // A long statement: parsed and decided on the analysis pool, under a
        // deadline, while this thread serves other sessions.
        auto job = session_.take_analysis_job();
        const auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(session_.config().listen.analysis_timeout);
        std::optional<session::analysis_result> result;
        if (job) result = co_await context_.analysis->run(std::move(*job), limit, analysis_wait_);
        if (result) session_.on_analysis(std::move(*result));
        else session_.on_analysis_timeout(limit);
        if (session_.closing()) co_return false;
    }
}

awaitable<void> connection::client_to_upstream() {
    // Bytes the client sent with its last authentication message (a Query
    // in the same packet) are relayed at once, not after its next write.
    bool buffered = !session_.client_input().empty();
    for (;;) {
        if (!std::exchange(buffered, false) && co_await client_.read_some(session_.client_input(), read_chunk)) break;
        if (!co_await relay_client_input()) break;
    }
    if (!session_.closing()) session_.on_disconnect();
    cancel_io();
}

awaitable<void> connection::upstream_to_client() {
    for (;;) {
        if (co_await upstream_->read_some(session_.upstream_input(), read_chunk)) {
            session_.on_upstream_closed();
            break;
        }
        auto status = session_.relay_upstream(session::clock::now());
        while (auto claim = session_.take_approval_claim()) {
            // An approved write about to commit: its one use is the central store's to give.
            std::optional<std::string> refused = "no central audit store is configured";
            if (context_.approval_store) refused = co_await context_.approval_store->claim(std::move(*claim), claim_wait_);
            if (session_.closing()) break;
            session_.on_approval_claim(std::move(refused));
            status = session_.relay_upstream(session::clock::now());
        }
        if (waiting_for_upstream_) upstream_progress_.cancel();
        co_await submit_audit();
        if (!session_.client_output().empty()) {
            const auto ec = co_await client_.write_all(session_.client_output());
            written(session_.client_output());
            if (ec) break;
        }
        if (status == session::relay_status::close) break;
    }
    cancel_io();
}

awaitable<void> connection::forward_cancel() {
    const auto target = session_.cancel_destination();
    // PostgreSQL closes the connection once it has signalled the backend;
    // only then is the client told (by closing its socket), as libpq's
    // PQcancel waits for exactly that. Answering sooner let a cancel land on
    // the client's next statement.
    const auto upstream = fmt::format("{}:{}", target.host, target.port);
    auto endpoints = co_await resolve_all(target.host, target.port);
    if (co_await send_cancel(std::move(endpoints), {target.upstream_key.process_id, target.upstream_key.secret_key}))
        log::info("cancel_forwarded", {{"peer", peer_}, {"upstream", upstream}});
    else
        log::warn("cancel_failed", {{"peer", peer_}, {"upstream", upstream}});
    client_.close();
}

// A key another replica issued (its tag says which): behind a load
// balancer, the client's cancel may land here. The forwarder sends it to that
// replica's peer port, within its limits; the client is answered at once,
// so a flood of unknown keys holds neither its sockets nor ours.
awaitable<void> connection::forward_cancel_to_peers() {
    error_code ec;
    const auto from = client_.socket().remote_endpoint(ec);
    if (!ec && context_.forwarder) context_.forwarder->forward(session_.cancel_request(), from.address());
    client_.close();
    co_return;
}

}  // namespace pgsieve::net
