#pragma once
// Scripted I/O for session tests: play the client and the upstream server
// with real protocol bytes, and read back what the session sends each way.

#include "config_support.hpp"

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/scram.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/message_io.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

namespace pgsieve::test {

struct message {
    char type;
    std::string body;
};

// Every whole typed frame in `buffer` (which is cleared).
inline std::vector<message> take_frames(std::string& buffer) {
    std::vector<message> out;
    std::string_view rest = buffer;
    for (;;) {
        const auto r = wire::decode_frame(rest, 1u << 30);
        if (r.status != wire::decode_status::ok) break;
        out.push_back({r.message.type, std::string(r.message.body)});
        rest.remove_prefix(r.message.size);
    }
    REQUIRE(rest.empty());
    buffer.clear();
    return out;
}

inline std::string types_of(const std::vector<message>& messages) {
    std::string s;
    for (const auto& m : messages) s += m.type;
    return s;
}

inline wire::received_error error_of(const message& m) {
    REQUIRE(m.type == 'E');
    return *wire::parse_error_response(m.body);
}

inline const std::string session_yaml = R"(listen: {max_message_bytes: 65536}
upstream: {host: db.internal, port: 5432, database: app, user: ai_readonly, password_env: UP, sslmode: disable}
audit: {sqlite: /a.db}
clients:
  - {name: cs_bot, password_env: CS, policy: reader, max_connections: 1}
policies:
  reader:
    statements: [select]
    statement_timeout: 5s
    tables: {public.customers: {columns: [id, name]}}
)";

struct harness {
    std::shared_ptr<const config::config> cfg;
    session::shared_state shared;
    std::unique_ptr<session::session> s;

    explicit harness(const std::string& yaml = session_yaml) {
        fake_environment env;
        env.variables = {{"UP", "up-secret"}, {"CS", "cs-secret"}};
        env.files = {{"/etc/pgsieve/server.pem", "certificate and key"}};
        auto loaded = config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get());
        REQUIRE(loaded);
        cfg = *loaded;
        shared.policies.update(cfg, test_catalog());
        s = std::make_unique<session::session>(cfg, shared);
    }

    static std::shared_ptr<const policy::catalog> test_catalog() {
        return std::make_shared<const policy::catalog>(
            std::vector<policy::relation_info>{{"public", "customers", 'r', {"id", "name", "ssn"}},
                                               {"public", "tickets", 'r', {"id", "subject"}}},
            std::vector<policy::function_info>{{"pg_catalog", "count", 'i', 'a', 1, 0, true},
                                               {"pg_catalog", "pg_sleep", 'v', 'f', 1}},
            std::vector<policy::operator_info>{});
    }

    void client_sends(std::string_view bytes) { s->client_input().append(bytes); }
    void upstream_sends(std::string_view bytes) { s->upstream_input().append(bytes); }

    // Runs next() and returns the action; outputs stay in the buffers.
    session::action next() { return s->next(); }

    std::vector<message> client_receives() { return take_frames(s->client_output()); }
    std::vector<message> upstream_receives() { return take_frames(s->upstream_output()); }
};

inline std::string startup(const std::vector<std::pair<std::string, std::string>>& parameters) {
    wire::startup_message m;
    m.parameters = parameters;
    std::string out;
    wire::write_startup_message(out, m);
    return out;
}

// Plays a client through SCRAM; returns the frames of the session's last reply.
inline std::vector<message> client_login(harness& h, const std::string& user, const std::string& password,
                                         std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> params = {{"user", user}, {"database", "app"}};
    params.insert(params.end(), extra.begin(), extra.end());
    h.client_sends(startup(params));
    REQUIRE(h.next() == session::action::write_client);
    auto sasl = h.client_receives();
    REQUIRE(types_of(sasl) == "R");
    if (h.next() != session::action::read_client) return sasl;

    wire::scram::client_exchange client(password, "clientnonce123");
    std::string out;
    wire::write_sasl_initial_response(out, "SCRAM-SHA-256", *client.client_first());
    h.client_sends(out);
    REQUIRE(h.next() == session::action::write_client);
    auto cont = h.client_receives();
    if (cont.front().type != 'R') return cont;
    const auto server_first = std::string_view(cont.front().body).substr(4);
    out.clear();
    wire::write_sasl_response(out, *client.on_server_first(server_first));
    h.client_sends(out);
    h.next();
    return h.client_receives();
}

// Plays a trust-authenticating upstream to ReadyForQuery.
inline void upstream_accepts(harness& h) {
    std::string out;
    wire::write_authentication_ok(out);
    wire::write_parameter_status(out, "server_version", "15.18");
    wire::write_backend_key_data(out, 4242, 777);
    wire::write_ready_for_query(out, 'I');
    h.upstream_sends(out);
}

inline std::string frame(char type, std::string_view body) {
    std::string out;
    wire::message_writer(out).begin(type).bytes(body).end();
    return out;
}

// An authenticated session in the relay state, its replies read.
inline void logged_in(harness& h) {
    REQUIRE(types_of(client_login(h, "cs_bot", "cs-secret")) == "R");
    REQUIRE(h.next() == session::action::connect_upstream);
    h.s->on_upstream_connected(true, {});
    REQUIRE(h.next() == session::action::write_upstream);
    h.s->upstream_output().clear();
    REQUIRE(h.next() == session::action::read_upstream);
    upstream_accepts(h);
    REQUIRE(h.next() == session::action::write_client);
    h.s->client_output().clear();
    REQUIRE(h.next() == session::action::relay);
}

inline std::string query(std::string_view sql) {
    std::string out;
    wire::write_query(out, sql);
    return out;
}
inline std::string parse(std::string_view name, std::string_view sql) {
    std::string out;
    wire::message_writer(out).begin('P').cstring(name).cstring(sql).int16(0).end();
    return out;
}
inline std::string bind(std::string_view portal, std::string_view statement) {
    std::string out;
    wire::message_writer(out).begin('B').cstring(portal).cstring(statement).int16(0).int16(0).int16(0).end();
    return out;
}
inline std::string execute(std::string_view portal, int max_rows = 0) {
    std::string out;
    wire::message_writer(out).begin('E').cstring(portal).int32(max_rows).end();
    return out;
}
inline std::string data_row(std::string_view value) {
    std::string out;
    wire::message_writer(out).begin('D').int16(1).int32(static_cast<std::int32_t>(value.size())).bytes(value).end();
    return out;
}
inline std::string complete(std::string_view tag) {
    std::string out;
    wire::message_writer(out).begin('C').cstring(tag).end();
    return out;
}
inline std::string error_frame(std::string_view sqlstate, std::string_view message, std::string_view severity = "ERROR") {
    std::string out;
    wire::message_writer(out)
        .begin('E')
        .byte('S').cstring(severity)
        .byte('V').cstring(severity)
        .byte('C').cstring(sqlstate)
        .byte('M').cstring(message)
        .byte('\0')
        .end();
    return out;
}
inline std::string ready(char status = 'I') {
    std::string out;
    wire::write_ready_for_query(out, status);
    return out;
}

}  // namespace pgsieve::test
