// Framing and messages: round trips, limits, partial input, random bytes.

#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/md5.hpp>
#include <pgsieve/wire/message_io.hpp>

#include <catch2/catch.hpp>

#include <random>

using namespace pgsieve::wire;

TEST_CASE("a frame is decoded only when it is complete", "[wire]") {
    std::string out;
    write_query(out, "SELECT 1");
    for (std::size_t n = 0; n < out.size(); ++n) {
        INFO(n);
        CHECK(decode_frame(std::string_view(out).substr(0, n), 1024).status == decode_status::need_more);
    }
    const std::string with_more = out + "trailing";
    const auto r = decode_frame(with_more, 1024);
    REQUIRE(r.status == decode_status::ok);
    CHECK(r.message.type == 'Q');
    CHECK(r.message.size == out.size());
    CHECK(parse_query(r.message.body)->sql == "SELECT 1");
}

TEST_CASE("peer-supplied lengths are checked against named limits", "[wire]") {
    std::string big;
    message_writer(big).begin('Q').bytes(std::string(2000, 'x')).end();
    CHECK(decode_frame(big, 1000).status == decode_status::error);
    CHECK_THAT(decode_frame(big, 1000).error, Catch::Matchers::Contains("exceeds the limit of 1000 bytes"));
    // The error is known from the header alone: no need to buffer the body.
    CHECK(decode_frame(std::string_view(big).substr(0, 5), 1000).status == decode_status::error);
    const std::string negative = {'Q', '\xff', '\xff', '\xff', '\xff'};
    CHECK(decode_frame(negative, 1000).status == decode_status::error);
    const std::string too_short = {'Q', 0, 0, 0, 3};
    CHECK(decode_frame(too_short, 1000).status == decode_status::error);
    const std::string huge_startup = {0, 0, '\x27', '\x11'};  // 10001 bytes
    CHECK(decode_startup_frame(huge_startup).status == decode_status::error);
}

TEST_CASE("StartupMessage round-trips with its parameters", "[wire]") {
    startup_message m;
    m.parameters = {{"user", "cs_bot"}, {"database", "app"}, {"application_name", "psql"}};
    std::string out;
    write_startup_message(out, m);
    const auto r = decode_startup_frame(out);
    REQUIRE(r.status == decode_status::ok);
    const auto packet = parse_startup_packet(r.message.body);
    REQUIRE(packet);
    const auto& back = std::get<startup_message>(*packet);
    CHECK(back.major == 3);
    CHECK(back.minor == 0);
    CHECK(back.parameters == m.parameters);
}

TEST_CASE("SSLRequest, GSSENCRequest and CancelRequest are recognised", "[wire]") {
    std::string out;
    write_ssl_request(out);
    CHECK(std::holds_alternative<ssl_request>(*parse_startup_packet(decode_startup_frame(out).message.body)));
    out.clear();
    write_cancel_request(out, {1234, -5});
    const auto cancel = std::get<cancel_request>(*parse_startup_packet(decode_startup_frame(out).message.body));
    CHECK(cancel.process_id == 1234);
    CHECK(cancel.secret_key == -5);
    const std::string gss = {0, 0, 0, 8, 4, (char)0xd2, 0x16, 0x30};
    CHECK(std::holds_alternative<gssenc_request>(*parse_startup_packet(decode_startup_frame(gss).message.body)));
}

TEST_CASE("a CancelRequest forwarded by a peer replica carries pgsieve's own code", "[wire]") {
    std::string out;
    write_cancel_request(out, {1234, -5, true});
    const auto frame = decode_startup_frame(out);
    CHECK(out.substr(4, 4) != std::string("\x04\xd2\x16\x2e", 4));  // not PostgreSQL's 80877102
    const auto cancel = std::get<cancel_request>(*parse_startup_packet(frame.message.body));
    CHECK(cancel.forwarded);
    CHECK(cancel.process_id == 1234);
    CHECK(cancel.secret_key == -5);
    out.clear();
    write_cancel_request(out, {1234, -5});
    CHECK_FALSE(std::get<cancel_request>(*parse_startup_packet(decode_startup_frame(out).message.body)).forwarded);
}

TEST_CASE("malformed frontend messages are errors, never crashes", "[wire]") {
    CHECK_FALSE(parse_query("no terminator"));
    CHECK_FALSE(parse_parse(std::string("s\0q\0", 4)));                 // missing count
    CHECK_FALSE(parse_parse(std::string("s\0q\0\0\x02\0\0\0\1", 10)));  // two types, one given
    CHECK_FALSE(parse_describe(std::string("X\0", 2)));
    CHECK_FALSE(parse_execute(std::string("p\0\0\0", 4)));
    CHECK_FALSE(parse_startup_packet(std::string("\0\3\0\0user\0bob", 12)));
    const std::string body("s1\0SELECT $1\0\0\1\0\0\0\x17", 19);  // views into it must outlive the parse
    const auto p = parse_parse(body);
    REQUIRE(p);
    CHECK(p->statement == "s1");
    CHECK(p->sql == "SELECT $1");
    CHECK(p->parameter_type_count == 1);
}

TEST_CASE("ErrorResponse is written with every field and read back", "[wire]") {
    std::string out;
    write_error_response(out, {"ERROR", "42501", "pgsieve: not allowed", "rule", "try this", 8});
    const auto r = decode_frame(out, 1024);
    REQUIRE(r.status == decode_status::ok);
    CHECK(r.message.type == 'E');
    const auto e = parse_error_response(r.message.body);
    REQUIRE(e);
    CHECK(e->severity == "ERROR");
    CHECK(e->sqlstate == "42501");
    CHECK(e->message == "pgsieve: not allowed");
    CHECK(e->detail == "rule");
    CHECK(e->hint == "try this");
    CHECK(r.message.body.find(std::string("P8\0", 3)) != std::string_view::npos);
}

TEST_CASE("backend messages round-trip", "[wire]") {
    std::string out;
    write_backend_key_data(out, 42, 99);
    write_parameter_status(out, "server_version", "15.18");
    write_ready_for_query(out, 'T');
    write_authentication_sasl(out, {"SCRAM-SHA-256"});
    auto r = decode_frame(out, 1024);
    CHECK(parse_backend_key_data(r.message.body)->secret_key == 99);
    auto rest = std::string_view(out).substr(r.message.size);
    r = decode_frame(rest, 1024);
    CHECK(parse_parameter_status(r.message.body)->value == "15.18");
    rest = rest.substr(r.message.size);
    r = decode_frame(rest, 1024);
    CHECK(*parse_ready_for_query(r.message.body) == 'T');
    rest = rest.substr(r.message.size);
    r = decode_frame(rest, 1024);
    const auto auth = parse_authentication(r.message.body);
    REQUIRE(auth);
    CHECK(auth->code == auth_code::sasl);
    CHECK(sasl_mechanisms(auth->data) == std::vector<std::string_view>{"SCRAM-SHA-256"});
}

TEST_CASE("MD5 password response matches PostgreSQL's", "[wire]") {
    // "md5" + md5(md5("secret" + "alice") + salt), computed independently.
    CHECK(md5_password_response("alice", "secret", "abcd") == "md5c90bcafc0a2b54511742383e34d5dc9d");
    CHECK(md5_password_response("alice", "secret", "abce") != md5_password_response("alice", "secret", "abcd"));
}

TEST_CASE("random bytes never crash the decoders", "[wire][fuzz]") {
    std::mt19937 rng(20261124);
    for (int i = 0; i < 20000; ++i) {
        std::string junk(rng() % 64, '\0');
        for (auto& c : junk) c = static_cast<char>(rng());
        const auto s = decode_startup_frame(junk);
        if (s.status == decode_status::ok) (void)parse_startup_packet(s.message.body);
        const auto f = decode_frame(junk, 1 << 20);
        if (f.status == decode_status::ok) {
            (void)parse_query(f.message.body);
            (void)parse_parse(f.message.body);
            (void)parse_bind(f.message.body);
            (void)parse_execute(f.message.body);
            (void)parse_describe(f.message.body);
            (void)parse_close(f.message.body);
            (void)parse_sasl_initial_response(f.message.body);
            (void)parse_error_response(f.message.body);
            (void)parse_authentication(f.message.body);
            (void)parse_backend_key_data(f.message.body);
        }
    }
    SUCCEED();
}

TEST_CASE("transparency: a Parse with 32,768 to 65,535 parameter types is read as PostgreSQL reads it", "[wire]") {
    for (const std::uint16_t count : {std::uint16_t(32768), std::uint16_t(65535)}) {
        std::string body("s\0INSERT INTO t VALUES ($1)\0", 28);
        body += static_cast<char>(count >> 8);
        body += static_cast<char>(count & 0xff);
        body.append(std::size_t(count) * 4, '\0');
        const auto m = parse_parse(body);
        REQUIRE(m);
        CHECK(m->parameter_type_count == count);
    }
}
