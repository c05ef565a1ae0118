// Masking a result's columns (session/result_mask.hpp): the masks
// themselves, the RowDescription's cross-check against the analysis, the
// DataRow rewrite, and the Bind that asks PostgreSQL for text.

#include <pgsieve/common/hmac.hpp>
#include <pgsieve/session/result_mask.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/message_io.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;
using session::mask_settings;
using method = config::mask_method;

namespace {

mask_settings settings{"a-key-of-at-least-thirty-two-bytes!!", 16, "***", nullptr};

struct field {
    std::string name;
    std::uint32_t table = 0;
    std::int16_t number = 0;
    std::uint32_t type = 23;
    std::int16_t format = 0;
};

std::string row_description_body(const std::vector<field>& fields) {
    std::string out;
    wire::message_writer w(out);
    w.begin_untyped().int16(static_cast<std::int16_t>(fields.size()));
    for (const auto& f : fields)
        w.cstring(f.name).int32(static_cast<std::int32_t>(f.table)).int16(f.number).int32(static_cast<std::int32_t>(f.type))
            .int16(4).int32(-1).int16(f.format);
    w.end();
    return out.substr(4);
}

std::string data_row_body(const std::vector<std::optional<std::string>>& values) {
    std::string out;
    wire::message_writer w(out);
    w.begin_untyped().int16(static_cast<std::int16_t>(values.size()));
    for (const auto& v : values) {
        if (!v) {
            w.int32(-1);
            continue;
        }
        w.int32(static_cast<std::int32_t>(v->size()));
        out += *v;
    }
    w.end();
    return out.substr(4);
}

std::vector<std::optional<std::string>> values_of(const std::string& message) {
    REQUIRE(message.size() > 5);
    REQUIRE(message[0] == wire::backend::data_row);
    const auto parsed = wire::parse_data_row(std::string_view(message).substr(5));
    REQUIRE(parsed);
    std::vector<std::optional<std::string>> out;
    for (const auto& v : *parsed) out.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
    return out;
}

}  // namespace

TEST_CASE("mask: each method's text", "[mask]") {
    CHECK(session::mask_value(method::redact, "123-45-6789", settings) == "***");
    CHECK_FALSE(session::mask_value(method::null, "123-45-6789", settings));
    CHECK(session::mask_value(method::last4, "123-45-6789", settings) == "*******6789");
    CHECK(session::mask_value(method::first4, "123-45-6789", settings) == "123-*******");
    CHECK(session::mask_value(method::last4, "abcd", settings) == "****");  // too short to show any of
    CHECK(session::mask_value(method::last4, "ñandú-1234", settings) == "******1234");  // characters, not bytes
    CHECK(session::mask_value(method::email_domain, "ann.lee@example.com", settings) == "***@example.com");
    CHECK(session::mask_value(method::email_domain, "no at sign", settings) == "***");
    const auto h = session::mask_value(method::hash, "123-45-6789", settings);
    REQUIRE(h);
    CHECK(*h == hmac_sha256_hex(settings.key, "123-45-6789").substr(0, 16));
    CHECK(session::mask_value(method::hash, "123-45-6789", settings) == h);  // equal inputs, equal outputs
    CHECK(session::mask_value(method::hash, "123-45-6780", settings) != h);
    mask_settings other{"another-key-of-thirty-two-bytes-or-more", 16, "***", nullptr};
    CHECK(session::mask_value(method::hash, "123-45-6789", other) != h);
    // No key (its policy went with a reload): redacted, never an unkeyed hash anyone could invert.
    mask_settings none{"", 16, "***", nullptr};
    CHECK(session::mask_value(method::hash, "123-45-6789", none) == "***");
}

TEST_CASE("hmac_sha256 with its key's states kept is HMAC-SHA-256", "[mask]") {
    // Keys shorter than, as long as and longer than SHA-256's 64-byte block (hashed first).
    for (const std::string key : {std::string("k"), std::string(64, 'k'), std::string(100, 'k'), std::string()}) {
        hmac_sha256 h(key);
        for (const std::string message : {std::string(), std::string("123-45-6789"), std::string(1000, 'm')}) {
            CHECK(h.hex(message) == hmac_sha256_hex(key, message));
            CHECK(h.hex(message) == hmac_sha256_hex(key, message));  // again, from the kept states
        }
    }
    // RFC 4231 test case 2.
    CHECK(hmac_sha256("Jefe").hex("what do ya want for nothing?") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("mask: RowDescription shows masked columns as text and agrees with the analysis", "[mask]") {
    const session::masked_outputs masked{{1, method::hash, 16400, 3, "public.people.ssn"}};
    bool agrees = false;
    const auto out = session::masked_row_description(
        row_description_body({{"id", 16400, 1}, {"ssn", 16400, 3, 1043, 1}}), masked, {}, agrees);
    CHECK(agrees);
    REQUIRE(out[0] == wire::backend::row_description);
    // The second field: text (25), length -1, modifier -1, the format as sent.
    const auto ssn = out.find(std::string("ssn\0", 4));
    REQUIRE(ssn != std::string::npos);
    const char* f = out.data() + ssn + 4;
    CHECK(wire::load_int32(f) == 16400);
    CHECK(wire::load_int16(f + 4) == 3);
    CHECK(wire::load_int32(f + 6) == 25);
    CHECK(wire::load_int16(f + 10) == -1);
    CHECK(wire::load_int32(f + 12) == -1);
    CHECK(wire::load_int16(f + 16) == 1);
}

TEST_CASE("attack: a masked column asked for in binary is described as binary (psycopg reads one format for all)", "[mask][security]") {
    // PostgreSQL was asked for text (Bind changed), the client for binary:
    // the description says binary, whose bytes for text are the same.
    const session::masked_outputs masked{{0, method::hash, 16400, 3, "public.people.ssn"}};
    bool agrees = false;
    const auto out = session::masked_row_description(
        row_description_body({{"ssn", 16400, 3, 23, 0}, {"c", 0, 0, 23, 1}}), masked, {1, 1}, agrees);
    CHECK(agrees);
    const auto ssn = out.find(std::string("ssn\0", 4));
    REQUIRE(ssn != std::string::npos);
    CHECK(wire::load_int16(out.data() + ssn + 4 + 16) == 1);
    const auto c = out.find(std::string("c\0", 2), ssn + 4);
    REQUIRE(c != std::string::npos);
    CHECK(wire::load_int16(out.data() + c + 2 + 16) == 1);  // not masked: as PostgreSQL sent it
}

TEST_CASE("attack: a masked position PostgreSQL says is another table's or another column's is not trusted", "[mask][security]") {
    const session::masked_outputs masked{{1, method::hash, 16400, 3, "public.people.ssn"}};
    bool agrees = true;
    (void)session::masked_row_description(row_description_body({{"id", 16400, 1}, {"ssn", 16500, 3}}), masked, {}, agrees);
    CHECK_FALSE(agrees);  // another table
    agrees = true;
    (void)session::masked_row_description(row_description_body({{"id", 16400, 1}, {"ssn", 16400, 2}}), masked, {}, agrees);
    CHECK_FALSE(agrees);  // another column of it (a column dropped or added since the catalog was read)
    agrees = true;
    (void)session::masked_row_description(row_description_body({{"id", 16400, 1}}), masked, {}, agrees);
    CHECK_FALSE(agrees);  // fewer columns than the analysis saw
    agrees = true;
    (void)session::masked_row_description("\x00", masked, {}, agrees);
    CHECK_FALSE(agrees);  // malformed (the session then closes: relay.cpp)
}

TEST_CASE("mask: DataRow fields at masked positions are replaced, NULL stays NULL", "[mask]") {
    const session::masked_outputs masked{{1, method::last4, 0, 0, "public.people.ssn"},
                                         {2, method::null, 0, 0, "public.people.email"}};
    auto row = session::masked_data_row(data_row_body({"7", "123-45-6789", "a@b.c"}), masked, settings);
    CHECK(values_of(row) == std::vector<std::optional<std::string>>{"7", "*******6789", std::nullopt});
    row = session::masked_data_row(data_row_body({"8", std::nullopt, std::nullopt}), masked, settings);
    CHECK(values_of(row) == std::vector<std::optional<std::string>>{"8", std::nullopt, std::nullopt});
    // Malformed: a field longer than the message.
    std::string bad = data_row_body({"7", "123"});
    bad.pop_back();
    CHECK(session::masked_data_row(bad, masked, settings).empty());
}

TEST_CASE("mask: a Bind asking for binary results asks for the masked columns in text", "[mask]") {
    const session::masked_outputs masked{{1, method::hash, 0, 0, "public.people.ssn"}};
    auto bind = [](std::vector<std::int16_t> formats) {
        std::string out;
        wire::message_writer w(out);
        w.begin_untyped().cstring("p").cstring("s").int16(1).int16(1).int16(1).int32(2).bytes(std::string_view("\x00\x07", 2));
        w.int16(static_cast<std::int16_t>(formats.size()));
        for (auto f : formats) w.int16(f);
        w.end();
        return out.substr(4);
    };
    CHECK_FALSE(session::bind_with_masked_as_text(bind({}), masked, 3));   // all text already
    CHECK_FALSE(session::bind_with_masked_as_text(bind({0}), masked, 3));  // all text already
    CHECK_FALSE(session::bind_with_masked_as_text(bind({1, 0, 1}), masked, 3));
    const auto all = session::bind_with_masked_as_text(bind({1}), masked, 3);  // one code for all: one each
    REQUIRE(all);
    CHECK(all->body == bind({1, 0, 1}));
    CHECK(all->client_formats == std::vector<std::int16_t>{1, 1, 1});
    const auto each = session::bind_with_masked_as_text(bind({1, 1, 0}), masked, 3);
    REQUIRE(each);
    CHECK(each->body == bind({1, 0, 0}));
    CHECK(each->client_formats == std::vector<std::int16_t>{1, 1, 0});
    CHECK_FALSE(session::bind_with_masked_as_text(bind({1}).substr(0, 9), masked, 3));  // malformed: left to PostgreSQL
}
