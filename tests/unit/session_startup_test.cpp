// The session from the first byte to an authenticated client.

#include "session_support.hpp"

#include <pgsieve/wire/backend.hpp>

using namespace pgsieve;
using namespace pgsieve::test;
using session::action;

TEST_CASE("session: SSLRequest without TLS configured is answered N, then startup proceeds", "[session]") {
    harness h;
    std::string out;
    wire::write_ssl_request(out);
    h.client_sends(out);
    REQUIRE(h.next() == action::write_client);
    CHECK(h.s->client_output() == "N");
    h.s->client_output().clear();
    CHECK(h.next() == action::read_client);
    h.client_sends(startup({{"user", "cs_bot"}}));
    REQUIRE(h.next() == action::write_client);
    CHECK(types_of(h.client_receives()) == "R");
}

TEST_CASE("session: SSLRequest answered S when TLS is configured, then a handshake", "[session]") {
    harness h(std::string(session_yaml).replace(0, 34, "listen: {tls: {cert_file: server.pem, key_file: server.pem}}"));
    std::string out;
    wire::write_ssl_request(out);
    h.client_sends(out);
    REQUIRE(h.next() == action::write_client);
    CHECK(h.s->client_output() == "S");
    h.s->client_output().clear();
    CHECK(h.next() == action::client_tls_handshake);
    h.s->on_client_tls(true);
    CHECK(h.next() == action::read_client);
    CHECK(h.s->client_tls());
}

TEST_CASE("attack: bytes pipelined after SSLRequest are refused (CVE-2021-23222)", "[session][security]") {
    harness h;
    std::string out;
    wire::write_ssl_request(out);
    out += startup({{"user", "cs_bot"}});
    h.client_sends(out);
    REQUIRE(h.next() == action::write_client);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "E");
    CHECK(error_of(replies[0]).sqlstate == "08P01");
    CHECK(h.next() == action::close);
}

TEST_CASE("session: GSSENCRequest is declined and SSLRequest may follow", "[session]") {
    harness h;
    const std::string gss = {0, 0, 0, 8, 4, (char)0xd2, 0x16, 0x30};
    h.client_sends(gss);
    REQUIRE(h.next() == action::write_client);
    CHECK(h.s->client_output() == "N");
    h.s->client_output().clear();
    std::string out;
    wire::write_ssl_request(out);
    h.client_sends(out);
    REQUIRE(h.next() == action::write_client);
    CHECK(h.s->client_output() == "N");
}

TEST_CASE("session: right password authenticates, then the upstream is connected", "[session]") {
    harness h;
    const auto final_reply = client_login(h, "cs_bot", "cs-secret");
    REQUIRE(types_of(final_reply) == "R");  // SASLFinal; AuthenticationOk waits for upstream
    CHECK(wire::parse_authentication(final_reply[0].body)->code == wire::auth_code::sasl_final);
    CHECK(h.next() == action::connect_upstream);
    CHECK(h.shared.limits.count("cs_bot") == 1);
}

TEST_CASE("session: wrong password and unknown user get the same FATAL 28P01", "[session][security]") {
    for (const auto& [user, password] : {std::pair{"cs_bot", "wrong"}, std::pair{"nobody", "cs-secret"}}) {
        harness h;
        const auto reply = client_login(h, user, password);
        REQUIRE(types_of(reply) == "E");
        const auto e = error_of(reply[0]);
        CHECK(e.severity == "FATAL");
        CHECK(e.sqlstate == "28P01");
        CHECK(e.message == std::string("password authentication failed for user \"") + user + "\"");
        CHECK(h.next() == action::close);
    }
}

TEST_CASE("session: protocol 2.0 and replication are refused before authentication", "[session]") {
    {
        harness h;
        std::string out;
        wire::startup_message m;
        m.major = 2;
        wire::write_startup_message(out, m);
        h.client_sends(out);
        REQUIRE(h.next() == action::write_client);
        const auto e = error_of(h.client_receives().at(0));
        CHECK(e.sqlstate == "0A000");
        CHECK(e.message == "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
    }
    {
        harness h;
        h.client_sends(startup({{"user", "cs_bot"}, {"replication", "database"}}));
        REQUIRE(h.next() == action::write_client);
        CHECK(error_of(h.client_receives().at(0)).message == "pgsieve: replication connections are not allowed");
    }
}

TEST_CASE("session: _pq_ options are declined with NegotiateProtocolVersion", "[session]") {
    harness h;
    h.client_sends(startup({{"user", "cs_bot"}, {"_pq_.compression", "on"}}));
    REQUIRE(h.next() == action::write_client);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "vR");
    wire::message_reader r(replies[0].body);
    CHECK(r.int32() == 0);
    CHECK(r.int32() == 1);
    CHECK(r.cstring() == "_pq_.compression");
}

TEST_CASE("session: a refused startup parameter is named in the FATAL, after authentication", "[session]") {
    harness h;
    const auto reply = client_login(h, "cs_bot", "cs-secret", {{"options", "-c default_transaction_read_only=off"}});
    REQUIRE(types_of(reply) == "RE");
    const auto e = error_of(reply[1]);
    CHECK(e.sqlstate == "42501");
    CHECK(e.message == "pgsieve: startup parameter \"default_transaction_read_only\" is not allowed");
    CHECK_FALSE(e.hint.empty());
}

TEST_CASE("attack: a client of a policy whose row-scoped table lacks row-level security is refused at startup",
          "[session][security][second-wall]") {
    std::string yaml = session_yaml;
    const auto replace = [&yaml](std::string_view from, std::string_view to) {
        yaml.replace(yaml.find(from), from.size(), to);
    };
    replace("max_connections: 1}", "max_connections: 1, attributes: {tenant_id: '1'}}");
    replace("{columns: [id, name]}", "{columns: [id, name], rows: {column: id, attribute: tenant_id}}");
    harness h(yaml);
    // The catalog as the upstream reads it: RLS is off on public.customers.
    policy::catalog_rows rows;
    for (const char* column : {"id", "name"})
        rows.relations.push_back({"public", "customers", "r", column, "pg_catalog", "int8", std::nullopt, std::nullopt,
                                  "owner", "f", "f"});
    rows.roles.push_back({"ai_readonly", "f", "f", "f", std::nullopt, std::nullopt, std::nullopt});
    h.shared.policies.update(nullptr, policy::catalog_from_rows(rows));
    const auto reply = client_login(h, "cs_bot", "cs-secret");
    REQUIRE(types_of(reply) == "RE");
    const auto e = error_of(reply[1]);
    CHECK(e.severity == "FATAL");
    CHECK(e.sqlstate == "55000");
    CHECK(e.message == "pgsieve: row-level security is not enabled on public.customers, whose rows policy reader scopes "
                       "by tenant_id");
    CHECK(e.hint.find("ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY") != std::string::npos);
    CHECK(h.next() == action::close);  // nothing reached the upstream
    CHECK(h.s->upstream_output().empty());
}

TEST_CASE("session: the wrong database is refused after authentication", "[session]") {
    harness h;
    h.client_sends(startup({{"user", "cs_bot"}, {"database", "postgres"}}));
    // The FATAL must not come before the password proof.
    REQUIRE(h.next() == action::write_client);
    CHECK(types_of(h.client_receives()) == "R");
}

TEST_CASE("session: per-client max_connections", "[session]") {
    harness h;
    REQUIRE(h.shared.limits.acquire("cs_bot", 1));
    const auto reply = client_login(h, "cs_bot", "cs-secret");
    REQUIRE(types_of(reply) == "RE");
    CHECK(error_of(reply[1]).sqlstate == "53300");
}

TEST_CASE("session: CancelRequest with a known key is forwarded, an unknown one ignored", "[session]") {
    harness h;
    const auto key = h.shared.cancels.add({"db.internal", 5432, {111, 222}});
    std::string out;
    wire::write_cancel_request(out, {key.process_id, key.secret_key});
    h.client_sends(out);
    REQUIRE(h.next() == action::forward_cancel);
    CHECK(h.s->cancel_destination().upstream_key.process_id == 111);
    CHECK(h.s->cancel_destination().upstream_key.secret_key == 222);

    harness other;
    out.clear();
    wire::write_cancel_request(out, {key.process_id, key.secret_key + 1});
    other.client_sends(out);
    CHECK(other.next() == action::close);
    CHECK(other.s->client_output().empty());
}

TEST_CASE("session: a CancelRequest whose key another replica issued goes to the peers, once", "[session]") {
    const auto clustered = session_yaml +
                           "cluster: {instance_id: a, peer_listen: 127.0.0.1:6433, "
                           "peers: [b.internal:6433, c.internal:6433]}\n";
    const auto tagged = [](std::uint8_t tag) {
        return static_cast<std::int32_t>((std::uint32_t(tag) << 24) | 0x123456u);
    };
    harness h(clustered);
    h.shared.cancels.set_tag(session::replica_tag("a"));
    std::string out;
    wire::write_cancel_request(out, {111, tagged(session::replica_tag("b"))});
    h.client_sends(out);
    REQUIRE(h.next() == action::forward_cancel_to_peers);
    CHECK_FALSE(h.s->cancel_request().forwarded);

    // A key with this replica's own tag that it does not hold: dropped here, never sent around.
    harness own(clustered);
    own.shared.cancels.set_tag(session::replica_tag("a"));
    out.clear();
    wire::write_cancel_request(out, {111, tagged(session::replica_tag("a"))});
    own.client_sends(out);
    CHECK(own.next() == action::close);

    // The keys this replica issues carry its tag, and it cancels them here.
    harness owner(clustered);
    owner.shared.cancels.set_tag(session::replica_tag("a"));
    const auto key = owner.shared.cancels.add({"db.internal", 5432, {111, 222}});
    CHECK(session::tag_of(key) == session::replica_tag("a"));
    out.clear();
    wire::write_cancel_request(out, {key.process_id, key.secret_key});
    owner.client_sends(out);
    CHECK(owner.next() == action::forward_cancel);
}

TEST_CASE("attack: a peer's forwarded cancel code on the client port is dropped", "[session][security]") {
    // Forwarded CancelRequests are taken only on cluster.peer_listen, from the peers' addresses.
    const auto clustered = session_yaml + "cluster: {instance_id: a, peer_listen: 127.0.0.1:6433, peers: [b.internal:6433]}\n";
    harness owner(clustered);
    const auto key = owner.shared.cancels.add({"db.internal", 5432, {111, 222}});
    std::string out;
    wire::write_cancel_request(out, {key.process_id, key.secret_key, true});
    owner.client_sends(out);
    CHECK(owner.next() == action::close);
    CHECK(owner.s->client_output().empty());
}

TEST_CASE("session: a startup packet over 10000 bytes is dropped without a reply, as PostgreSQL does", "[session]") {
    harness h;
    h.client_sends(startup({{"user", "cs_bot"}, {"application_name", std::string(20000, 'x')}}));
    CHECK(h.next() == action::close);
    CHECK(h.s->client_output().empty());
}

TEST_CASE("transparency: Terminate sent as the very first bytes is closed silently, as PostgreSQL does", "[session]") {
    harness h;
    h.client_sends(frame('X', ""));
    CHECK(h.next() == action::close);
    CHECK(h.s->client_output().empty());
}
