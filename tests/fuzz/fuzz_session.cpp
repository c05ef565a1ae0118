// libFuzzer target: a session fed arbitrary bytes — before authentication
// from an unauthenticated client, and after a real login in both relay
// directions (the first input byte picks which side each chunk goes to).

#include <pgsieve/config/load.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <cstdlib>

using namespace pgsieve;

namespace {

std::shared_ptr<const config::config> load_config() {
    config::environment env{[](const std::string&) -> std::optional<std::string> { return "secret"; },
                            [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
    // One PBKDF2 iteration keeps each login cheap enough to fuzz fast.
    const auto verifier = wire::scram::to_string(*wire::scram::make_verifier("secret", "fuzzsalt", 1));
    auto loaded = config::load_text(R"(listen: {max_message_bytes: 65536}
upstream: {host: db, database: app, user: u, password_env: P, sslmode: disable}
audit: {sqlite: /a.db}
clients: [{name: bot, password: ")" + verifier + R"(", policy: p}]
policies: {p: {statements: [select], tables: {public.t: {}}}}
)",
                                    "/fuzz.yaml", env);
    if (!loaded) std::abort();
    return *loaded;
}

// Drives the session until it needs input that the fuzzer does not give.
void settle(session::session& s, int budget = 64) {
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

// A genuine login: SCRAM with the client's password, a trusting upstream.
bool log_in(session::session& s) {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto cfg = load_config();
    static session::shared_state shared;
    if (size == 0) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    if (data[0] & 1) {
        session::session s(cfg, shared);
        s.client_input().append(input);
        settle(s);
        s.upstream_input().append(input);
        settle(s);
        return 0;
    }
    session::session s(cfg, shared);
    if (!log_in(s)) std::abort();  // the scripted login itself must work
    const auto now = session::clock::now();
    // Chunks of up to 64 bytes, alternating sides by the selector bits.
    unsigned selector = data[0];
    for (std::size_t at = 0; at < input.size(); at += 64) {
        const auto chunk = input.substr(at, 64);
        selector = selector * 33 + 7;
        if (selector & 8) {
            s.client_input().append(chunk);
            if (s.relay_client(now) == session::relay_status::close) break;
            s.upstream_output().clear();
        } else {
            s.upstream_input().append(chunk);
            if (s.relay_upstream(now) == session::relay_status::close) break;
            s.client_output().clear();
            (void)s.take_outcomes();
        }
    }
    return 0;
}
