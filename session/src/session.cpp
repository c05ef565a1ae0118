// Startup and client authentication. The upstream half is in
// upstream_login.cpp, the steady state in relay.cpp.

#include <pgsieve/session/session.hpp>
#include <pgsieve/session/startup_parameters.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::session {

namespace sqlstate = wire::sqlstate;

session::session(std::shared_ptr<const config::config> cfg, shared_state& shared)
    : cfg_(std::move(cfg)), shared_(shared) {}

session::~session() {
    if (holds_client_slot_) shared_.limits.release(user_);
    if (proxy_key_) shared_.cancels.remove(*proxy_key_);
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
            case state::client_tls:
                if (!client_out_.empty()) return action::write_client;  // the 'S' goes first, in plaintext
                return action::client_tls_handshake;
            case state::startup:
            case state::sasl_initial:
            case state::sasl_response: {
                if (!client_out_.empty()) return action::write_client;
                const bool progressed = state_ == state::startup ? step_startup() : step_auth();
                if (!progressed) return action::read_client;
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

void session::on_client_tls(bool ok) {
    if (!ok) {
        close_reason_ = "TLS handshake with the client failed";
        state_ = state::closed;
        return;
    }
    client_tls_ = true;
    state_ = state::startup;
}

bool session::step_startup() {
    const auto r = wire::decode_startup_frame(client_in_);
    if (r.status == wire::decode_status::need_more) return false;
    if (r.status == wire::decode_status::error) {
        fail(sqlstate::protocol_violation, r.error);
        return true;
    }
    auto packet = wire::parse_startup_packet(r.message.body);
    const std::size_t frame_size = r.message.size;
    if (!packet) {
        fail(sqlstate::protocol_violation, packet.error());
        return true;
    }
    client_in_.erase(0, frame_size);

    if (std::holds_alternative<wire::ssl_request>(*packet)) {
        // Bytes sent after SSLRequest, before the handshake, would be read as
        // if they came over TLS (CVE-2021-23222): refuse them.
        if (!client_in_.empty() || ssl_requested_ || client_tls_) {
            fail(sqlstate::protocol_violation, "pgsieve: unexpected data after SSLRequest");
            return true;
        }
        ssl_requested_ = true;
        if (cfg_->listen.tls) {
            client_out_ += 'S';
            state_ = state::client_tls;
        } else {
            client_out_ += 'N';
        }
        return true;
    }
    if (std::holds_alternative<wire::gssenc_request>(*packet)) {
        if (gssenc_requested_ || client_tls_ || !client_in_.empty()) {
            fail(sqlstate::protocol_violation, "pgsieve: unexpected GSSENCRequest");
            return true;
        }
        gssenc_requested_ = true;
        client_out_ += 'N';
        return true;
    }
    if (const auto* cancel = std::get_if<wire::cancel_request>(&*packet)) {
        cancel_ = *cancel;
        // An unknown key is ignored silently, as PostgreSQL does.
        if (const auto target = shared_.cancels.find({cancel->process_id, cancel->secret_key})) {
            cancel_target_ = *target;
            state_ = state::cancel;
        } else {
            close_reason_ = "CancelRequest with an unknown key";
            state_ = state::closed;
        }
        return true;
    }
    on_startup_message(std::get<wire::startup_message>(std::move(*packet)));
    return true;
}

void session::on_startup_message(wire::startup_message m) {
    if (m.major != 3) {
        fail(sqlstate::feature_not_supported,
             fmt::format("unsupported frontend protocol {}.{}: server supports 3.0 to 3.0", m.major, m.minor));
        return;
    }
    if (startup_refusal_) {
        fail(startup_refusal_->first, startup_refusal_->second);
        return;
    }
    if (cfg_->listen.tls && cfg_->listen.tls->mode == config::tls_mode::require && !client_tls_) {
        fail(sqlstate::invalid_authorization_specification, "pgsieve: this server accepts only TLS connections",
             "connect with sslmode=require");
        return;
    }
    // Protocol options (_pq_.*) and minor versions above 0 are declined
    // with NegotiateProtocolVersion; the session continues on 3.0.
    std::vector<std::string> unrecognized;
    for (const auto& [name, value] : m.parameters) {
        if (name.starts_with("_pq_.")) unrecognized.push_back(name);
    }
    if (m.minor > 0 || !unrecognized.empty()) wire::write_negotiate_protocol_version(client_out_, 0, unrecognized);

    for (const auto& [name, value] : m.parameters) {
        if (name == "user") user_ = value;
        else if (name == "database") database_ = value;
        else if (name == "application_name") application_name_ = value;
        else if (name == "replication") {
            const std::string v = value;
            if (v != "false" && v != "off" && v != "no" && v != "0") {
                fail(sqlstate::insufficient_privilege, "pgsieve: replication connections are not allowed");
                return;
            }
        }
    }
    if (user_.empty()) {
        fail(sqlstate::invalid_authorization_specification, "no PostgreSQL user name specified in startup packet");
        return;
    }
    if (database_.empty()) database_ = user_;
    startup_ = std::move(m);

    // Unknown users run the same exchange against a stable fake verifier and
    // fail at the proof, so replies and timing do not reveal who exists.
    client_ = cfg_->find_client(user_);
    if (client_) {
        auto v = wire::scram::parse_verifier(client_->verifier);
        if (v) scram_server_.emplace(std::move(*v), wire::scram::random_nonce());
    }
    if (!scram_server_)
        scram_server_.emplace(wire::scram::mock_verifier(user_, shared_.mock_secret), wire::scram::random_nonce(),
                              /*doomed=*/true);
    wire::write_authentication_sasl(client_out_, {wire::scram::mechanism});
    state_ = state::sasl_initial;
}

bool session::step_auth() {
    const auto r = wire::decode_frame(client_in_, static_cast<std::uint32_t>(wire::scram::max_message_bytes + 64));
    if (r.status == wire::decode_status::need_more) return false;
    if (r.status == wire::decode_status::error) {
        fail(sqlstate::protocol_violation, r.error);
        return true;
    }
    const wire::frame f = r.message;
    if (f.type != wire::frontend::password) {
        fail(sqlstate::protocol_violation,
             fmt::format("expected SASL response, got message type {}", static_cast<int>(f.type)));
        return true;
    }
    const auto auth_failed = [this] {
        fail(sqlstate::invalid_password, fmt::format("password authentication failed for user \"{}\"", user_));
    };

    if (state_ == state::sasl_initial) {
        const auto m = wire::parse_sasl_initial_response(f.body);
        if (!m) {
            fail(sqlstate::protocol_violation, m.error());
            return true;
        }
        if (m->mechanism != wire::scram::mechanism) {
            fail(sqlstate::protocol_violation, "client selected an invalid SASL authentication mechanism");
            return true;
        }
        const auto server_first = scram_server_->on_client_first(m->data);
        if (!server_first) {
            if (server_first.error().code == wire::scram::errc::unsupported_feature ||
                server_first.error().code == wire::scram::errc::malformed_message)
                fail(sqlstate::protocol_violation, "malformed SCRAM message: " + server_first.error().detail);
            else
                auth_failed();
            return true;
        }
        wire::write_authentication_sasl_continue(client_out_, *server_first);
        state_ = state::sasl_response;
    } else {
        const auto server_final = scram_server_->on_client_final(f.body);
        if (!server_final) {
            auth_failed();
            return true;
        }
        wire::write_authentication_sasl_final(client_out_, *server_final);
        on_authenticated();
    }
    client_in_.erase(0, f.size);
    return true;
}

// Checks that need an authenticated client: they would otherwise tell a
// stranger which databases and settings exist.
void session::on_authenticated() {
    policy_ = cfg_->find_policy(client_->policy);
    if (!policy_) {  // the loader guarantees it; fail closed all the same
        fail(sqlstate::internal_error, "pgsieve: no policy for this client");
        return;
    }
    if (database_ != cfg_->upstream.database) {
        fail(sqlstate::invalid_catalog_name, fmt::format("database \"{}\" does not exist", database_),
             fmt::format("this pgsieve serves database \"{}\"", cfg_->upstream.database));
        return;
    }
    parameter_list requested;
    for (const auto& [name, value] : startup_.parameters) {
        if (name == "user" || name == "database" || name == "replication" || name.starts_with("_pq_.")) continue;
        if (name == "options") {
            auto settings = split_options(value);
            if (!settings) {
                fail(sqlstate::insufficient_privilege, settings.error().message, settings.error().hint);
                return;
            }
            requested.insert(requested.end(), settings->begin(), settings->end());
            continue;
        }
        requested.emplace_back(name, value);
    }
    auto upstream = upstream_parameters(requested, cfg_->upstream, *policy_);
    if (!upstream) {
        fail(sqlstate::insufficient_privilege, upstream.error().message, upstream.error().hint);
        return;
    }
    upstream_parameters_ = std::move(*upstream);
    for (const auto& [name, value] : upstream_parameters_) {
        if (name == "search_path") search_path_ = parse_search_path(value).value_or(std::vector<std::string>{});
    }

    if (!shared_.limits.acquire(user_, client_->max_connections.value_or(0))) {
        fail(sqlstate::too_many_connections,
             fmt::format("pgsieve: too many connections for client \"{}\" (max_connections {})", user_,
                         client_->max_connections.value_or(0)));
        return;
    }
    holds_client_slot_ = true;
    state_ = state::upstream_connect;
}

}  // namespace pgsieve::session
