// The session logging in upstream, and what the client sees when it cannot.

#include <pgsieve/policy/parameters.hpp>
#include <pgsieve/common/sql_text.hpp>
#include "session_support.hpp"

#include <pgsieve/session/startup_parameters.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/md5.hpp>

using namespace pgsieve;
using namespace pgsieve::test;
using session::action;

namespace {

// An authenticated client whose session is about to connect upstream.
void to_upstream(harness& h, std::vector<std::pair<std::string, std::string>> extra = {}) {
    const auto reply = client_login(h, "cs_bot", "cs-secret", std::move(extra));
    REQUIRE(types_of(reply) == "R");
    REQUIRE(h.next() == action::connect_upstream);
    h.s->on_upstream_connected(true, {});
}

std::map<std::string, std::string> upstream_startup(harness& h) {
    REQUIRE(h.next() == action::write_upstream);
    // StartupMessage has no type byte: decode it as a startup frame.
    const auto r = wire::decode_startup_frame(h.s->upstream_output());
    REQUIRE(r.status == wire::decode_status::ok);
    auto packet = wire::parse_startup_packet(r.message.body);
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : std::get<wire::startup_message>(*packet).parameters) out[k] = v;
    h.s->upstream_output().clear();
    return out;
}

}  // namespace

TEST_CASE("session: upstream gets the dedicated role and the pinned settings", "[session]") {
    harness h;
    to_upstream(h, {{"application_name", "mcp-server"}, {"client_encoding", "UTF8"}});
    const auto params = upstream_startup(h);
    CHECK(params.at("user") == "ai_readonly");
    CHECK(params.at("database") == "app");
    CHECK(params.at("application_name") == "mcp-server");
    CHECK(params.at("client_encoding") == "UTF8");
    CHECK(params.at("search_path") == "public");
    CHECK(params.at("statement_timeout") == "5000ms");
    CHECK(params.at("default_transaction_read_only") == "on");
    CHECK(params.at("standard_conforming_strings") == "on");
}

TEST_CASE("attack: the lexer's settings changed by ALTER ROLE SET are pinned at login", "[session][security]") {
    // ALTER ROLE ai_readonly SET standard_conforming_strings = off: one
    // literal to libpg_query, a literal and a column to PostgreSQL. The
    // startup parameters outrank the role's defaults; a client that sends
    // no client_encoding still gets UTF8.
    harness h;
    to_upstream(h, {{"client_encoding", "'utf-8'"}});
    const auto params = upstream_startup(h);
    CHECK(params.at("standard_conforming_strings") == "on");
    CHECK(params.at("client_encoding") == "UTF8");
}

TEST_CASE("attack: an upstream that reports standard_conforming_strings off at login is refused", "[session][security]") {
    harness h;
    to_upstream(h);
    (void)upstream_startup(h);
    std::string out;
    wire::write_authentication_ok(out);
    wire::write_parameter_status(out, "standard_conforming_strings", "off");
    wire::write_backend_key_data(out, 4242, 777);
    wire::write_ready_for_query(out, 'I');
    h.upstream_sends(out);
    REQUIRE(h.next() == action::write_client);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "E");
    const auto e = error_of(replies[0]);
    CHECK(e.sqlstate == "08006");
    CHECK(e.message.find("standard_conforming_strings = \"off\"") != std::string::npos);
    CHECK_FALSE(h.s->authenticated());
}

TEST_CASE("attack: a session whose upstream settings drift is closed before its next statement", "[session][security]") {
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"standard_conforming_strings", "off"}, {"client_encoding", "SJIS"}, {"default_transaction_read_only", "off"}}) {
        CAPTURE(name);
        harness h;
        logged_in(h);
        const auto now = session::clock::now();
        h.client_sends(query("SELECT id FROM customers"));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        h.s->upstream_output().clear();
        std::string replies = frame('T', std::string(6, '\0')) + data_row("1") + complete("SELECT 1");
        wire::write_parameter_status(replies, name, value);
        replies += ready();
        h.upstream_sends(replies);
        CHECK(h.s->relay_upstream(now) == session::relay_status::close);
        // The reply before the change is relayed; then FATAL, nothing more.
        CHECK(types_of(h.client_receives()) == "TDC");
        auto final_output = h.s->take_final_client_output();
        const auto fatal = take_frames(final_output);
        REQUIRE(types_of(fatal) == "E");
        CHECK(error_of(fatal[0]).message.find(name) != std::string::npos);
        h.client_sends(query("SELECT id FROM customers"));
        CHECK(h.s->upstream_output().empty());
    }
}

TEST_CASE("session contract: what breaks it", "[session]") {
    harness h;
    const auto& read_only = *h.cfg->find_policy("reader");
    CHECK_FALSE(session::contract_breach("standard_conforming_strings", "on", read_only));
    CHECK(session::contract_breach("standard_conforming_strings", "off", read_only));
    CHECK_FALSE(session::contract_breach("client_encoding", "UTF8", read_only));
    CHECK(session::contract_breach("client_encoding", "SJIS", read_only));
    CHECK(session::contract_breach("default_transaction_read_only", "off", read_only));
    CHECK_FALSE(session::contract_breach("TimeZone", "UTC", read_only));
    CHECK_FALSE(session::contract_breach("application_name", "x", read_only));
}

TEST_CASE("session: after upstream login the client sees a proxy-issued BackendKeyData", "[session]") {
    harness h;
    to_upstream(h);
    (void)upstream_startup(h);
    REQUIRE(h.next() == action::read_upstream);
    upstream_accepts(h);
    REQUIRE(h.next() == action::write_client);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "RSKZ");
    CHECK(wire::parse_authentication(replies[0].body)->code == wire::auth_code::ok);
    const auto key = *wire::parse_backend_key_data(replies[2].body);
    CHECK_FALSE((key.process_id == 4242 && key.secret_key == 777));
    const auto target = h.shared.cancels.find(key);
    REQUIRE(target);
    CHECK(target->upstream_key.process_id == 4242);
    CHECK(target->upstream_key.secret_key == 777);
    CHECK(h.next() == action::relay);
    CHECK(h.s->authenticated());
}

TEST_CASE("session: upstream SCRAM login, and an upstream that cannot prove itself", "[session][security]") {
    for (const bool honest : {true, false}) {
        harness h;
        to_upstream(h);
        (void)upstream_startup(h);
        // Play PostgreSQL with the upstream role's verifier.
        auto verifier = wire::scram::make_verifier(honest ? "up-secret" : "other", "upstreamsalt1234", 4096);
        wire::scram::server_exchange server(*verifier, "servernonce");
        std::string out;
        wire::write_authentication_sasl(out, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
        h.upstream_sends(out);
        REQUIRE(h.next() == action::write_upstream);
        auto initial = h.upstream_receives();
        const auto sasl = wire::parse_sasl_initial_response(initial.at(0).body);
        REQUIRE(sasl);
        CHECK(sasl->mechanism == "SCRAM-SHA-256");
        out.clear();
        wire::write_authentication_sasl_continue(out, *server.on_client_first(sasl->data));
        h.upstream_sends(out);
        REQUIRE(h.next() == action::write_upstream);
        const auto response = h.upstream_receives();
        const auto server_final = server.on_client_final(response.at(0).body);
        if (!honest) {
            // The server would refuse our proof; a forged success must not pass.
            CHECK_FALSE(server_final);
            out.clear();
            wire::write_authentication_sasl_final(out, "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            h.upstream_sends(out);
            REQUIRE(h.next() == action::write_client);
            const auto e = error_of(h.client_receives().at(0));
            CHECK(e.sqlstate == "08006");
            CHECK_THAT(e.message, Catch::Matchers::Contains("could not prove it knows the password"));
            continue;
        }
        REQUIRE(server_final);
        out.clear();
        wire::write_authentication_sasl_final(out, *server_final);
        h.upstream_sends(out);
        upstream_accepts(h);
        REQUIRE(h.next() == action::write_client);
        CHECK(types_of(h.client_receives()) == "RSKZ");
    }
}

TEST_CASE("attack: upstream skips SCRAM's final step and claims success", "[session][security]") {
    harness h;
    to_upstream(h);
    (void)upstream_startup(h);
    std::string out;
    wire::write_authentication_sasl(out, {"SCRAM-SHA-256"});
    h.upstream_sends(out);
    REQUIRE(h.next() == action::write_upstream);
    h.s->upstream_output().clear();
    upstream_accepts(h);  // AuthenticationOk without SASLFinal
    REQUIRE(h.next() == action::write_client);
    CHECK(error_of(h.client_receives().at(0)).message ==
          "pgsieve: upstream server db.internal:5432: the server ended SCRAM authentication without proving itself");
}

TEST_CASE("session: upstream MD5 and cleartext password requests are answered", "[session]") {
    {
        harness h;
        to_upstream(h);
        (void)upstream_startup(h);
        std::string out;
        wire::message_writer(out).begin('R').int32(5).bytes("salt").end();
        h.upstream_sends(out);
        REQUIRE(h.next() == action::write_upstream);
        const auto reply = h.upstream_receives();
        CHECK(reply.at(0).body == wire::md5_password_response("ai_readonly", "up-secret", "salt") + '\0');
    }
    {
        harness h;
        to_upstream(h);
        (void)upstream_startup(h);
        std::string out;
        wire::message_writer(out).begin('R').int32(3).end();
        h.upstream_sends(out);
        REQUIRE(h.next() == action::write_upstream);
        CHECK(h.upstream_receives().at(0).body == std::string("up-secret") + '\0');
    }
}

TEST_CASE("session: an upstream login error reaches the client as FATAL 08006 naming the upstream", "[session]") {
    harness h;
    to_upstream(h);
    (void)upstream_startup(h);
    std::string out;
    wire::error_fields refusal;
    refusal.severity = "FATAL";
    refusal.sqlstate = "28P01";
    refusal.message = "password authentication failed for user \"ai_readonly\"";
    wire::write_error_response(out, refusal);
    h.upstream_sends(out);
    REQUIRE(h.next() == action::write_client);
    const auto e = error_of(h.client_receives().at(0));
    CHECK(e.sqlstate == "08006");
    CHECK(e.message == "pgsieve: upstream server db.internal:5432: login refused: password authentication failed "
                       "for user \"ai_readonly\"");
}

TEST_CASE("session: an unreachable upstream is named in the FATAL", "[session]") {
    harness h;
    client_login(h, "cs_bot", "cs-secret");
    REQUIRE(h.next() == action::connect_upstream);
    h.s->on_upstream_connected(false, "Connection refused");
    REQUIRE(h.next() == action::write_client);
    CHECK(error_of(h.client_receives().at(0)).message ==
          "pgsieve: upstream server db.internal:5432: cannot connect: Connection refused");
}

TEST_CASE("session: sslmode require refuses an upstream without TLS; prefer goes on", "[session]") {
    for (const std::string mode : {"require", "prefer"}) {
        std::string yaml = session_yaml;
        yaml.replace(yaml.find("sslmode: disable"), 16, "sslmode: " + mode);
        harness h(yaml);
        to_upstream(h);
        REQUIRE(h.next() == action::write_upstream);
        CHECK(h.s->upstream_output() == std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8));
        h.s->upstream_output().clear();
        REQUIRE(h.next() == action::read_upstream);
        h.upstream_sends("N");
        if (mode == "require") {
            REQUIRE(h.next() == action::write_client);
            CHECK_THAT(error_of(h.client_receives().at(0)).message,
                       Catch::Matchers::Contains("does not support TLS"));
        } else {
            CHECK(upstream_startup(h).at("user") == "ai_readonly");
        }
    }
}

TEST_CASE("attack: bytes injected after the upstream's SSL answer are refused (CVE-2021-23214)", "[session][security]") {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("sslmode: disable"), 16, "sslmode: require");
    harness h(yaml);
    to_upstream(h);
    REQUIRE(h.next() == action::write_upstream);
    h.s->upstream_output().clear();
    REQUIRE(h.next() == action::read_upstream);
    std::string injected = "S";
    wire::write_authentication_ok(injected);
    h.upstream_sends(injected);
    REQUIRE(h.next() == action::write_client);
    CHECK_THAT(error_of(h.client_receives().at(0)).message, Catch::Matchers::Contains("unexpected data"));
}

TEST_CASE("startup parameters: the safe list and the policy's limits", "[session]") {
    harness h;
    const auto& policy = *h.cfg->find_policy("reader");
    const auto& upstream = h.cfg->upstream;
    const auto& client = *h.cfg->find_client("cs_bot");
    using list = session::parameter_list;
    auto refused = [&](list l) {
        const auto r = session::upstream_parameters(l, upstream, policy, client);
        return r ? std::string() : r.error().message;
    };
    CHECK(refused({{"DateStyle", "ISO"}, {"TimeZone", "UTC"}, {"extra_float_digits", "3"}}).empty());
    CHECK(refused({{"role", "postgres"}}) == "pgsieve: startup parameter \"role\" is not allowed");
    CHECK(refused({{"session_authorization", "postgres"}}) ==
          "pgsieve: startup parameter \"session_authorization\" is not allowed");
    CHECK(refused({{"client_encoding", "SJIS"}}) == "pgsieve: client_encoding \"SJIS\" is not allowed; use UTF8");
    CHECK(refused({{"statement_timeout", "1min"}}) ==
          "pgsieve: statement_timeout \"1min\" is above policy \"reader\"'s statement_timeout of 5000ms");
    CHECK(refused({{"statement_timeout", "0"}}) ==
          "pgsieve: statement_timeout \"0\" is above policy \"reader\"'s statement_timeout of 5000ms");
    CHECK(refused({{"lock_timeout", "2s"}}).empty());
    CHECK(refused({{"client_encoding", "'utf-8'"}}).empty());  // as asyncpg sends it
    CHECK(refused({{"search_path", "hr, public"}}) ==
          "pgsieve: schema \"hr\" in search_path is not granted by policy \"reader\"");
    CHECK(refused({{"search_path", "\"$user\", public"}}) ==
          "pgsieve: schema \"$user\" in search_path is not granted by policy \"reader\"");
    // It only narrows the session (0 would switch the server's timeout off).
    CHECK(refused({{"idle_in_transaction_session_timeout", "10s"}}).empty());
    CHECK_FALSE(refused({{"idle_in_transaction_session_timeout", "0"}}).empty());
    CHECK(refused({{"pgsieve.tenant_id", "7"}}) ==
          "pgsieve: parameter \"pgsieve.tenant_id\" carries this client's attributes and cannot be changed");

    const auto ok = session::upstream_parameters({{"statement_timeout", "2s"}, {"search_path", "PUBLIC, pg_catalog"}},
                                                 upstream, policy, client);
    REQUIRE(ok);
    const std::map<std::string, std::string> sent(ok->begin(), ok->end());
    CHECK(sent.at("statement_timeout") == "2000ms");
    CHECK(sent.at("search_path") == "public, pg_catalog");
}

TEST_CASE("startup parameters: options are split as PostgreSQL does", "[session]") {
    const auto ok = session::split_options("-c search_path=public --statement-timeout=1s -cDateStyle=ISO\\ ,\\ MDY");
    REQUIRE(ok);
    REQUIRE(ok->size() == 3);
    CHECK((*ok)[0] == std::pair<std::string, std::string>{"search_path", "public"});
    CHECK((*ok)[1] == std::pair<std::string, std::string>{"statement_timeout", "1s"});
    CHECK((*ok)[2] == std::pair<std::string, std::string>{"DateStyle", "ISO , MDY"});
    CHECK_FALSE(session::split_options("-d 5"));
    CHECK_FALSE(session::split_options("-c"));
    CHECK(policy::parameter_milliseconds("1500") == 1500);
    CHECK(policy::parameter_milliseconds("2 min") == 120000);
    CHECK(policy::parameter_milliseconds("1.5s") == 1500);
    CHECK_FALSE(policy::parameter_milliseconds("soon"));
    CHECK(session::parse_search_path("\"My Schema\", public") == std::vector<std::string>{"My Schema", "public"});
    CHECK_FALSE(session::parse_search_path("public,"));
    CHECK(pgsieve::quote_identifier("My Schema") == "\"My Schema\"");
}
