// The connection's state machine: the client handshake, the upstream
// login, then the relay (relay.cpp).

#include "audit_recorder.hpp"
#include "client_handshake.hpp"
#include "enforcer.hpp"
#include "result_limit.hpp"
#include "write_limit.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/session/startup_parameters.hpp>
#include <pgsieve/session/upstream_login.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace sqlstate = wire::sqlstate;

session::session(std::shared_ptr<const config::config> cfg, shared_state& shared)
    : cfg_(std::move(cfg)),
      shared_(shared),
      handshake_(std::make_unique<client_handshake>(*cfg_, shared)),
      limit_(std::make_unique<result_limit>()),
      write_limit_(std::make_unique<write_limit>(shared.approvals)),
      audit_(std::make_unique<audit_recorder>(shared)) {}

session::~session() {
    if (proxy_key_) shared_.cancels.remove(*proxy_key_);
}

const std::string& session::client_name() const { return handshake_->user(); }
const std::string& session::application_name() const { return handshake_->application_name(); }
bool session::client_tls() const { return handshake_->tls(); }
const wire::cancel_request& session::cancel_request() const { return handshake_->cancel_request(); }

void session::refuse_at_startup(std::string_view sqlstate, std::string message) {
    handshake_->refuse_at_startup(std::string(sqlstate), std::move(message));
}

void session::fail(std::string_view code, std::string message, std::string hint) {
    if (state_ == state::closed) return;
    close_reason_ = message;
    close_sqlstate_ = std::string(code);
    wire::error_fields e;
    e.severity = "FATAL";
    e.sqlstate = std::string(code);
    e.message = std::move(message);
    e.hint = std::move(hint);
    // In relay the client buffer belongs to the upstream direction's loop;
    // the driver writes this once both loops have stopped.
    wire::write_error_response(state_ == state::relay ? final_client_out_ : client_out_, e);
    state_ = state::closing;
}

action session::next() {
    for (;;) {
        switch (state_) {
            case state::closed:
                return action::close;
            case state::closing:
                if (!client_out_.empty()) return action::write_client;
                state_ = state::closed;
                return action::close;
            case state::relay:
                if (!client_out_.empty()) return action::write_client;
                return action::relay;
            case state::cancel:
                return action::forward_cancel;
            case state::cancel_peers:
                return action::forward_cancel_to_peers;
            case state::client_tls:
                if (!client_out_.empty()) return action::write_client;  // the 'S' goes first, in plaintext
                return action::client_tls_handshake;
            case state::handshake: {
                if (!client_out_.empty()) return action::write_client;
                const auto a = step_handshake();
                if (a) return *a;
                continue;
            }
            case state::upstream_connect:
                if (!client_out_.empty()) return action::write_client;
                return action::connect_upstream;
            case state::upstream_login:
                return next_upstream();
        }
    }
}

std::optional<action> session::step_handshake() {
    switch (handshake_->advance(client_in_, client_out_)) {
        case client_handshake::step::need_input: return action::read_client;
        case client_handshake::step::progress: return std::nullopt;
        case client_handshake::step::tls_handshake:
            state_ = state::client_tls;
            return std::nullopt;
        case client_handshake::step::cancel: {
            const auto& request = handshake_->cancel_request();
            const wire::backend_key key{request.process_id, request.secret_key};
            // An unknown key is ignored silently, as PostgreSQL does — unless
            // a peer replica behind the same load balancer issued it (its tag
            // says so). Forwarded requests come only to the peer port.
            if (request.forwarded) {
                close_reason_ = "a peer's forwarded CancelRequest on the client port (peers use cluster.peer_listen)";
                state_ = state::closed;
            } else if (const auto target = shared_.cancels.find(key)) {
                cancel_target_ = *target;
                state_ = state::cancel;
            } else if (!cfg_->cluster.peers.empty() && tag_of(key) != shared_.cancels.tag()) {
                state_ = state::cancel_peers;
            } else {
                close_reason_ = "CancelRequest with an unknown key";
                state_ = state::closed;
            }
            return std::nullopt;
        }
        case client_handshake::step::authenticated: {
            // The second wall must stand before a client of the policy is
            // served: its upstream role exists, and row-scoped tables are
            // really scoped by PostgreSQL (policy::check_upstream).
            const auto snapshot = shared_.policies.current();
            if (const auto* f = snapshot ? snapshot->upstream.refusal(handshake_->policy()->name) : nullptr) {
                fail(sqlstate::object_not_in_prerequisite_state, "pgsieve: " + f->message, "fix: " + f->fix);
                return std::nullopt;
            }
            state_ = state::upstream_connect;
            return std::nullopt;
        }
        case client_handshake::step::failed: {
            const auto& f = *handshake_->failure();
            fail(f.sqlstate, f.message, f.hint);
            return std::nullopt;
        }
        case client_handshake::step::closed:
            if (close_reason_.empty()) close_reason_ = "the client sent no valid startup packet";
            state_ = state::closed;
            return std::nullopt;
    }
    return std::nullopt;
}

void session::on_client_tls(bool ok, std::string channel_binding) {
    if (!ok) {
        close_reason_ = "TLS handshake with the client failed";
        state_ = state::closed;
        return;
    }
    handshake_->on_tls(true, std::move(channel_binding));
    state_ = state::handshake;
}

void session::upstream_failed(std::string why) {
    const auto& u = cfg_->upstream;
    fail(sqlstate::connection_failure, fmt::format("pgsieve: upstream server {}:{}: {}", u.host, u.port, why));
}

void session::on_upstream_connected(bool ok, std::string_view error) {
    if (!ok) {
        upstream_failed(fmt::format("cannot connect: {}", error));
        return;
    }
    const auto& policy = *handshake_->policy();
    login_ = std::make_unique<upstream_login>(
        cfg_->upstream, upstream_login::identity{cfg_->upstream_user_of(policy), cfg_->upstream_password_of(policy)},
        handshake_->upstream_parameters(), upstream_in_, upstream_out_);
    login_->on_connected();
    state_ = state::upstream_login;
}

void session::on_upstream_tls(bool ok, std::string_view error) {
    if (login_) login_->on_tls(ok, error);
}

action session::next_upstream() {
    switch (login_->next()) {
        case upstream_login::step::write: return action::write_upstream;
        case upstream_login::step::read: return action::read_upstream;
        case upstream_login::step::tls_handshake: return action::upstream_tls_handshake;
        case upstream_login::step::ready: upstream_ready(); break;
        case upstream_login::step::failed: upstream_failed(login_->error()); break;
    }
    return next();
}

void session::upstream_ready() {
    const auto& u = cfg_->upstream;
    for (const auto& [name, value] : login_->parameter_status()) {
        if (auto breach = contract_breach(name, value, *handshake_->policy())) {
            upstream_failed(std::move(*breach));
            return;
        }
    }
    proxy_key_ = shared_.cancels.add(cancel_target{u.host, u.port, login_->backend_key()});
    wire::write_authentication_ok(client_out_);
    for (const auto& [name, value] : login_->parameter_status()) wire::write_parameter_status(client_out_, name, value);
    wire::write_backend_key_data(client_out_, proxy_key_->process_id, proxy_key_->secret_key);
    wire::write_ready_for_query(client_out_, login_->transaction_status());
    state_ = state::relay;

    const auto& policy = *handshake_->policy();
    enforcer_ = std::make_unique<enforcer>(shared_, handshake_->user(), cfg_->upstream_user_of(policy),
                                           handshake_->search_path(), registry_);
    std::vector<std::pair<std::string_view, std::string_view>> attributes;
    for (const auto& [name, value] : handshake_->client()->attributes) attributes.emplace_back(name, value);
    audit_->started({handshake_->user(), policy.name, handshake_->application_name(), handshake_->database(), peer_,
                     attributes.empty() ? std::string() : audit::detail_json(attributes), handshake_->tls()},
                    std::chrono::system_clock::now());
}

std::vector<audit::record> session::take_audit_records(sys_time now) {
    for (const auto& o : outcomes_) audit_->outcome(o, now);
    outcomes_.clear();
    return audit_->take();
}

void session::on_closed(sys_time now, std::string_view reason) {
    in_flight_.abandon(clock::now(), outcomes_);
    for (const auto& o : outcomes_) audit_->outcome(o, now);
    outcomes_.clear();
    const std::string why(reason.empty() ? std::string_view(close_reason_) : reason);
    if (audit_->has_started()) {
        audit_->ended(now, why);
        return;
    }
    if (close_sqlstate_.empty() || std::exchange(refusal_recorded_, true)) return;  // a TLS probe, a cancel request…
    audit_->refused_startup(now, {handshake_->user(), {}, handshake_->application_name(), handshake_->database(), peer_, {}, false},
                            close_sqlstate_, why);
}

}  // namespace pgsieve::session
