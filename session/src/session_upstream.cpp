// The session's side of the upstream login (see upstream_login.cpp).

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

void session::upstream_failed(std::string why) {
    const auto& u = cfg_->upstream;
    fail(wire::sqlstate::connection_failure, fmt::format("pgsieve: upstream server {}:{}: {}", u.host, u.port, why));
}

void session::on_upstream_connected(bool ok, std::string_view error) {
    if (!ok) {
        upstream_failed(fmt::format("cannot connect: {}", error));
        return;
    }
    login_.emplace(cfg_->upstream, upstream_parameters_, upstream_in_, upstream_out_);
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
    proxy_key_ = shared_.cancels.add(cancel_target{u.host, u.port, login_->backend_key()});
    wire::write_authentication_ok(client_out_);
    for (const auto& [name, value] : login_->parameter_status()) wire::write_parameter_status(client_out_, name, value);
    wire::write_backend_key_data(client_out_, proxy_key_->process_id, proxy_key_->secret_key);
    wire::write_ready_for_query(client_out_, login_->transaction_status());
    state_ = state::relay;

    audit_id_ = shared_.audit ? shared_.audit->new_session_id() : 0;
    audit_started_ = true;
    audit::session_started started;
    started.id = audit_id_;
    started.started_at = std::chrono::system_clock::now();
    started.client = user_;
    started.policy = client_ ? client_->policy : "";
    started.client_addr = peer_;
    started.application_name = application_name_;
    started.database = database_;
    started.tls = client_tls_;
    audit_.emplace_back(std::move(started));
}

}  // namespace pgsieve::session
