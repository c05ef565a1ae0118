#pragma once
// What the session fuzzers share: driving a session to where it needs
// input, and a genuine login (SCRAM with the client's password, a trusting
// upstream) for a client "bot" whose password is "secret".

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <string>

namespace pgsieve::fuzz {

// Drives the session until it needs input that the caller does not give.
inline void settle(session::session& s, int budget = 64) {
    using session::action;
    while (budget-- > 0) {
        switch (s.next()) {
            case action::write_client: s.client_output().clear(); break;
            case action::write_upstream: s.upstream_output().clear(); break;
            case action::client_tls_handshake: s.on_client_tls(false); break;
            case action::connect_upstream: s.on_upstream_connected(true, {}); break;
            case action::upstream_tls_handshake: s.on_upstream_tls(false, "fuzz"); break;
            default: return;
        }
    }
}

inline bool log_in(session::session& s) {
    wire::startup_message m;
    m.parameters = {{"user", "bot"}, {"database", "app"}};
    wire::write_startup_message(s.client_input(), m);
    settle(s);
    wire::scram::client_exchange client("secret", "fuzzclientnonce");
    wire::write_sasl_initial_response(s.client_input(), wire::scram::mechanism, *client.client_first());
    if (s.next() != session::action::write_client) return false;
    const auto r = wire::decode_frame(s.client_output(), 1 << 16);
    const std::string server_first(r.message.body.substr(4));
    s.client_output().clear();
    wire::write_sasl_response(s.client_input(), *client.on_server_first(server_first));
    settle(s);
    wire::write_authentication_ok(s.upstream_input());
    wire::write_backend_key_data(s.upstream_input(), 1, 2);
    wire::write_ready_for_query(s.upstream_input(), 'I');
    settle(s);
    return s.authenticated();
}

}  // namespace pgsieve::fuzz
