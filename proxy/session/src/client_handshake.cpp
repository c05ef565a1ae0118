#include "client_handshake.hpp"

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace sqlstate = wire::sqlstate;

client_handshake::~client_handshake() {
    if (holds_client_slot_) shared_.limits.release(user_);
}

client_handshake::step client_handshake::fail(std::string_view code, std::string message, std::string hint) {
    failure_ = refusal{std::string(code), std::move(message), std::move(hint)};
    state_ = state::done;
    return step::failed;
}

void client_handshake::on_tls(bool ok, std::string channel_binding) {
    if (!ok) {
        state_ = state::done;
        return;
    }
    tls_ = true;
    channel_binding_ = std::move(channel_binding);
    state_ = state::startup;
}

client_handshake::step client_handshake::advance(std::string& in, std::string& out) {
    switch (state_) {
        case state::startup: return step_startup(in, out);
        case state::tls: return step::tls_handshake;
        case state::sasl_initial:
        case state::sasl_response: return step_auth(in, out);
        case state::done: return failure_ ? step::failed : client_ && policy_ ? step::authenticated : step::closed;
    }
    return step::closed;
}

client_handshake::step client_handshake::step_startup(std::string& in, std::string& out) {
    const auto r = wire::decode_startup_frame(in);
    if (r.status == wire::decode_status::need_more) return step::need_input;
    if (r.status == wire::decode_status::error) {
        // PostgreSQL reports a bad startup length only in its own log
        // (COMMERROR) and closes: a client sending Terminate, or anything
        // that is not a startup packet, gets no answer.
        state_ = state::done;
        return step::closed;
    }
    auto packet = wire::parse_startup_packet(r.message.body);
    const std::size_t frame_size = r.message.size;
    if (!packet) return fail(sqlstate::protocol_violation, packet.error());
    in.erase(0, frame_size);

    if (std::holds_alternative<wire::ssl_request>(*packet)) {
        // Bytes sent after SSLRequest, before the handshake, would be read as
        // if they came over TLS (CVE-2021-23222): refuse them.
        if (!in.empty() || ssl_requested_ || tls_)
            return fail(sqlstate::protocol_violation, "pgsieve: unexpected data after SSLRequest");
        ssl_requested_ = true;
        if (cfg_.listen.tls) {
            out += 'S';
            state_ = state::tls;
            return step::tls_handshake;
        }
        out += 'N';
        return step::progress;
    }
    if (std::holds_alternative<wire::gssenc_request>(*packet)) {
        if (gssenc_requested_ || tls_ || !in.empty())
            return fail(sqlstate::protocol_violation, "pgsieve: unexpected GSSENCRequest");
        gssenc_requested_ = true;
        out += 'N';
        return step::progress;
    }
    if (const auto* cancel = std::get_if<wire::cancel_request>(&*packet)) {
        cancel_ = *cancel;
        state_ = state::done;
        return step::cancel;
    }
    return on_startup_message(std::get<wire::startup_message>(std::move(*packet)), out);
}

client_handshake::step client_handshake::on_startup_message(wire::startup_message m, std::string& out) {
    if (m.major != 3)
        return fail(sqlstate::feature_not_supported,
                    fmt::format("unsupported frontend protocol {}.{}: server supports 3.0 to 3.0", m.major, m.minor));
    if (startup_refusal_) return fail(startup_refusal_->sqlstate, startup_refusal_->message);
    if (cfg_.listen.tls && cfg_.listen.tls->mode == config::tls_mode::require && !tls_)
        return fail(sqlstate::invalid_authorization_specification, "pgsieve: this server accepts only TLS connections",
                    "connect with sslmode=require");
    // Protocol options (_pq_.*) and minor versions above 0 are declined
    // with NegotiateProtocolVersion; the session continues on 3.0.
    std::vector<std::string> unrecognized;
    for (const auto& [name, value] : m.parameters) {
        if (name.starts_with("_pq_.")) unrecognized.push_back(name);
    }
    if (m.minor > 0 || !unrecognized.empty()) wire::write_negotiate_protocol_version(out, 0, unrecognized);

    for (const auto& [name, value] : m.parameters) {
        if (name == "user") user_ = value;
        else if (name == "database") database_ = value;
        else if (name == "application_name") application_name_ = value;
        else if (name == "replication" && value != "false" && value != "off" && value != "no" && value != "0")
            return fail(sqlstate::insufficient_privilege, "pgsieve: replication connections are not allowed");
    }
    if (user_.empty())
        return fail(sqlstate::invalid_authorization_specification, "no PostgreSQL user name specified in startup packet");
    if (database_.empty()) database_ = user_;
    startup_ = std::move(m);

    // Unknown users run the same exchange against a stable fake verifier and
    // fail at the proof, so replies and timing do not reveal who exists.
    client_ = cfg_.find_client(user_);
    const bool plus = tls_ && !channel_binding_.empty();
    if (client_) {
        if (auto v = wire::scram::parse_verifier(client_->verifier))
            scram_.emplace(std::move(*v), wire::scram::random_nonce(), false, plus ? channel_binding_ : std::string());
    }
    if (!scram_)
        scram_.emplace(wire::scram::mock_verifier(user_, shared_.mock_secret), wire::scram::random_nonce(),
                       /*doomed=*/true, plus ? channel_binding_ : std::string());
    // Over TLS, channel binding is offered first, as PostgreSQL does.
    if (plus) wire::write_authentication_sasl(out, {wire::scram::mechanism_plus, wire::scram::mechanism});
    else wire::write_authentication_sasl(out, {wire::scram::mechanism});
    state_ = state::sasl_initial;
    return step::progress;
}

client_handshake::step client_handshake::step_auth(std::string& in, std::string& out) {
    const auto r = wire::decode_frame(in, static_cast<std::uint32_t>(wire::scram::max_message_bytes + 64));
    if (r.status == wire::decode_status::need_more) return step::need_input;
    if (r.status == wire::decode_status::error) return fail(sqlstate::protocol_violation, r.error);
    const wire::frame f = r.message;
    if (f.type != wire::frontend::password)
        return fail(sqlstate::protocol_violation,
                    fmt::format("expected SASL response, got message type {}", static_cast<int>(f.type)));
    const auto auth_failed = [this] {
        return fail(sqlstate::invalid_password, fmt::format("password authentication failed for user \"{}\"", user_));
    };

    if (state_ == state::sasl_initial) {
        const auto m = wire::parse_sasl_initial_response(f.body);
        if (!m) return fail(sqlstate::protocol_violation, m.error());
        const bool plus = m->mechanism == wire::scram::mechanism_plus;
        if (m->mechanism != wire::scram::mechanism && !(plus && tls_ && !channel_binding_.empty()))
            return fail(sqlstate::protocol_violation, "client selected an invalid SASL authentication mechanism");
        const auto server_first = scram_->on_client_first(m->data, plus);
        if (!server_first) {
            const auto code = server_first.error().code;
            if (code == wire::scram::errc::unsupported_feature || code == wire::scram::errc::malformed_message)
                return fail(sqlstate::protocol_violation, "malformed SCRAM message: " + server_first.error().detail);
            return auth_failed();
        }
        wire::write_authentication_sasl_continue(out, *server_first);
        state_ = state::sasl_response;
        in.erase(0, f.size);
        return step::progress;
    }
    const auto server_final = scram_->on_client_final(f.body);
    if (!server_final) return auth_failed();
    wire::write_authentication_sasl_final(out, *server_final);
    in.erase(0, f.size);
    return on_authenticated();
}

// Checks that need an authenticated client: they would otherwise tell a
// stranger which databases and settings exist.
client_handshake::step client_handshake::on_authenticated() {
    state_ = state::done;
    policy_ = cfg_.find_policy(client_->policy);
    if (!policy_) return fail(sqlstate::internal_error, "pgsieve: no policy for this client");  // the loader guarantees one
    if (database_ != cfg_.upstream.database)
        return fail(sqlstate::invalid_catalog_name, fmt::format("database \"{}\" does not exist", database_),
                    fmt::format("this pgsieve serves database \"{}\"", cfg_.upstream.database));
    parameter_list requested;
    for (const auto& [name, value] : startup_.parameters) {
        if (name == "user" || name == "database" || name == "replication" || name.starts_with("_pq_.")) continue;
        if (name == "options") {
            auto settings = split_options(value);
            if (!settings) return fail(sqlstate::insufficient_privilege, settings.error().message, settings.error().hint);
            requested.insert(requested.end(), settings->begin(), settings->end());
            continue;
        }
        requested.emplace_back(name, value);
    }
    auto upstream = pgsieve::session::upstream_parameters(requested, cfg_.upstream, *policy_, *client_);
    if (!upstream) return fail(sqlstate::insufficient_privilege, upstream.error().message, upstream.error().hint);
    upstream_parameters_ = std::move(*upstream);
    for (const auto& [name, value] : upstream_parameters_) {
        if (name == "search_path") search_path_ = parse_search_path(value).value_or(std::vector<std::string>{});
    }
    if (!shared_.limits.acquire(user_, client_->max_connections.value_or(0)))
        return fail(sqlstate::too_many_connections,
                    fmt::format("pgsieve: too many connections for client \"{}\" (max_connections {})", user_,
                                client_->max_connections.value_or(0)));
    holds_client_slot_ = true;
    return step::authenticated;
}

}  // namespace pgsieve::session
