// libFuzzer target: a session fed arbitrary bytes — before authentication
// from an unauthenticated client, and after a real login in both relay
// directions (the first input byte picks which side each chunk goes to).

#include "fuzz_support.hpp"

#include <pgsieve/config/load.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <cstdlib>

using namespace pgsieve;

using pgsieve::fuzz::log_in;
using pgsieve::fuzz::settle;

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
