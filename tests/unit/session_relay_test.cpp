// The steady state: bytes relayed unchanged both ways, requests matched with
// their replies in the in-flight queue, limits enforced.

#include "session_support.hpp"

#include <pgsieve/wire/backend.hpp>

using namespace pgsieve;
using namespace pgsieve::test;
using session::action;
using session::request_kind;

namespace {


std::string describe_portal(std::string_view portal) {
    std::string out;
    wire::message_writer(out).begin('D').byte('P').cstring(portal).end();
    return out;
}
std::string sync_message() { return frame('S', ""); }
std::string error(std::string_view code, std::string_view message) {
    std::string out;
    wire::error_fields e;
    e.sqlstate = code;
    e.message = message;
    wire::write_error_response(out, e);
    return out;
}

}  // namespace

TEST_CASE("relay: a pipeline passes unchanged and each request gets its outcome", "[session]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    const std::string requests = parse("s1", "SELECT id FROM customers") + bind("", "s1") + describe_portal("") +
                                 execute("") + sync_message() + bind("", "s1") + execute("") + sync_message();
    h.client_sends(requests);
    CHECK(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == requests);

    const std::string replies = frame('1', "") + frame('2', "") + frame('T', std::string(6, '\0')) + data_row("1") +
                                data_row("2") + complete("SELECT 2") + ready() + frame('2', "") + data_row("3") +
                                complete("SELECT 1") + ready();
    h.upstream_sends(replies);
    CHECK(h.s->relay_upstream(now) == session::relay_status::keep_going);
    CHECK(h.s->client_output() == replies);

    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 8);
    CHECK(outcomes[0].kind == request_kind::parse);
    CHECK(outcomes[0].name == "s1");
    CHECK(outcomes[0].sql == "SELECT id FROM customers");
    CHECK(outcomes[2].kind == request_kind::describe);
    CHECK(outcomes[3].kind == request_kind::execute);
    CHECK(outcomes[3].command_tag == "SELECT 2");
    CHECK(outcomes[3].rows == 2);
    CHECK(outcomes[3].bytes == 2 * data_row("1").size());
    CHECK(outcomes[4].kind == request_kind::sync);
    CHECK(outcomes[6].rows == 1);
    CHECK(h.s->idle());
}

TEST_CASE("relay: after an error, requests up to Sync are marked skipped", "[session]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(parse("", "SELECT 1/0") + bind("", "") + execute("") + parse("", "SELECT 2") + bind("", "") +
                   execute("") + sync_message());
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('1', "") + frame('2', "") + error("22012", "division by zero") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 7);
    REQUIRE(outcomes[2].error);
    CHECK(outcomes[2].error->sqlstate == "22012");
    CHECK_FALSE(outcomes[2].skipped);
    CHECK(outcomes[3].skipped);
    CHECK(outcomes[5].skipped);
    CHECK(outcomes[6].kind == request_kind::sync);
    CHECK(h.s->idle());
}

TEST_CASE("relay: a multi-statement Query yields one outcome per statement", "[session]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(query("SELECT 1; SELECT 2; SELECT 3/0"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + complete("SELECT 1") +
                     frame('T', std::string(6, '\0')) + data_row("2") + complete("SELECT 1") +
                     error("22012", "division by zero") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].command_tag == "SELECT 1");
    CHECK(outcomes[1].rows == 1);
    CHECK(outcomes[2].error->message == "division by zero");
    CHECK(h.s->idle());
}

TEST_CASE("relay: partial Execute ends with PortalSuspended", "[session]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(bind("c1", "s1") + execute("c1", 2) + sync_message());
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('2', "") + data_row("a") + data_row("b") + frame('s', "") + ready('T'));
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[1].rows == 2);
    CHECK(outcomes[1].command_tag == "(suspended)");
}

TEST_CASE("relay: a frame split across reads is forwarded only when whole", "[session]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    const std::string q = query("SELECT 42");
    for (std::size_t i = 0; i + 1 < q.size(); ++i) {
        h.client_sends(q.substr(i, 1));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        CHECK(h.s->upstream_output().empty());
    }
    h.client_sends(q.substr(q.size() - 1));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == q);
}

TEST_CASE("relay: a message over max_message_bytes closes with FATAL 08P01", "[session][security]") {
    harness h;
    logged_in(h);
    h.client_sends(query(std::string(70000, 'x')).substr(0, 5));  // the header alone is enough
    CHECK(h.s->relay_client(session::clock::now()) == session::relay_status::close);
    CHECK(h.s->upstream_output().empty());
    std::string out = h.s->take_final_client_output();
    const auto e = error_of(take_frames(out).at(0));
    CHECK(e.severity == "FATAL");
    CHECK(e.sqlstate == "08P01");
    CHECK_THAT(e.message, Catch::Matchers::Contains("exceeds the limit of 65536 bytes"));
}

TEST_CASE("relay: garbage from the client closes its session with FATAL 08P01", "[session][security]") {
    harness h;
    logged_in(h);
    h.client_sends(frame('z', "junk"));
    CHECK(h.s->relay_client(session::clock::now()) == session::relay_status::close);
    std::string out = h.s->take_final_client_output();
    CHECK(error_of(take_frames(out).at(0)).message == "pgsieve: invalid frontend message type 122");
}

TEST_CASE("relay: Flush is forwarded and expects no reply of its own", "[session]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    const std::string requests = parse("s", "SELECT 1") + frame('H', "");
    h.client_sends(requests);
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == requests);
    h.upstream_sends(frame('1', ""));
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    CHECK(h.s->take_outcomes().size() == 1);
    CHECK(h.s->idle());
}

TEST_CASE("relay: Terminate is forwarded and ends the session", "[session]") {
    harness h;
    logged_in(h);
    h.client_sends(frame('X', ""));
    CHECK(h.s->relay_client(session::clock::now()) == session::relay_status::close);
    CHECK(h.s->upstream_output() == frame('X', ""));
    CHECK(h.s->take_final_client_output().empty());
}

TEST_CASE("attack: pipelined Syncs beyond the in-flight bound wait for replies instead of growing the session", "[session][relay][security]") {
    // Each pipelined 5-byte Sync once cost ~450 bytes in flight, without bound.
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    std::string syncs;
    for (std::size_t i = 0; i < session::max_in_flight_requests + 100; ++i) syncs += frame('S', "");
    h.client_sends(syncs);
    REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
    CHECK(h.s->upstream_output().size() == session::max_in_flight_requests * 5);
    CHECK(h.s->client_input().size() == 100 * 5);  // not read past the bound: left for later
    h.s->upstream_output().clear();
    // PostgreSQL answers 50 of them: 50 more go.
    std::string replies;
    for (int i = 0; i < 50; ++i) replies += ready();
    h.upstream_sends(replies);
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
    CHECK(h.s->upstream_output().size() == 50 * 5);
    CHECK(h.s->client_input().size() == 50 * 5);
}
