// SCRAM-SHA-256 verifiers: RFC 7677's test vector and PostgreSQL's format.

#include <pgsieve/wire/scram.hpp>

#include <catch2/catch.hpp>

namespace scram = pgsieve::wire::scram;

namespace {
// RFC 7677 §3: user "user", password "pencil".
constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view rfc_salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

scram::verifier rfc_verifier() {
    // The salt's raw bytes, decoded through the verifier parser's own path.
    const auto text = std::string("SCRAM-SHA-256$4096:") + std::string(rfc_salt_b64) +
                      "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const auto shell = scram::parse_verifier(text);
    REQUIRE(shell);
    auto v = scram::make_verifier("pencil", shell->salt, 4096);
    REQUIRE(v);
    return *v;
}
}  // namespace

TEST_CASE("RFC 7677 test vector: server side", "[scram]") {
    scram::server_exchange server(rfc_verifier(), std::string(rfc_server_nonce));
    const auto server_first = server.on_client_first(rfc_client_first);
    REQUIRE(server_first);
    CHECK(*server_first == rfc_server_first);
    const auto server_final = server.on_client_final(rfc_client_final);
    REQUIRE(server_final);
    CHECK(*server_final == rfc_server_final);
}

TEST_CASE("RFC 7677 test vector: client side", "[scram]") {
    scram::client_exchange client("pencil", std::string(rfc_client_nonce), "user");
    const auto first = client.client_first();
    REQUIRE(first);
    CHECK(*first == rfc_client_first);
    const auto final_message = client.on_server_first(rfc_server_first);
    REQUIRE(final_message);
    CHECK(*final_message == rfc_client_final);
    CHECK(client.on_server_final(rfc_server_final));
}

TEST_CASE("verifier text round-trips in PostgreSQL's format", "[scram]") {
    const auto v = scram::make_verifier("pencil", "0123456789abcdef", 4096);
    REQUIRE(v);
    const std::string text = scram::to_string(*v);
    CHECK(text.starts_with("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"));
    const auto parsed = scram::parse_verifier(text);
    REQUIRE(parsed);
    CHECK(parsed->iterations == 4096);
    CHECK(parsed->salt == "0123456789abcdef");
    CHECK(parsed->stored_key == v->stored_key);
    CHECK(parsed->server_key == v->server_key);
    CHECK(scram::to_string(*parsed) == text);
}

TEST_CASE("generated verifiers use fresh salts", "[scram]") {
    const auto a = scram::generate_verifier("secret", 16);
    const auto b = scram::generate_verifier("secret", 16);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->salt.size() == 16);
    CHECK(a->salt != b->salt);
    CHECK(a->stored_key != b->stored_key);
}

TEST_CASE("malformed verifiers are rejected with the reason", "[scram]") {
    const std::string key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const char* bad[] = {
        "md5abcdef",                                                   // another scheme
        "SCRAM-SHA-256$4096:c2FsdA==",                                 // no keys
        "SCRAM-SHA-256$0:c2FsdA==$",                                   // zero iterations
        "SCRAM-SHA-256$x:c2FsdA==$k:k",                                // not a number
        "SCRAM-SHA-256$4096:c2FsdA=$k:k",                              // bad padding
        "SCRAM-SHA-256$4096:$k:k",                                     // empty salt
        "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",                       // keys too short
        "SCRAM-SHA-256$99999999999:c2FsdA==$k:k",                      // iterations overflow
    };
    for (const auto* text : bad) {
        INFO(text);
        const auto v = scram::parse_verifier(text);
        REQUIRE_FALSE(v);
        CHECK(v.error().code == scram::errc::malformed_verifier);
    }
    CHECK(scram::parse_verifier("SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + key));
    // Non-canonical base64 (stray bits after the last byte) is refused.
    CHECK_FALSE(scram::parse_verifier("SCRAM-SHA-256$4096:c2FsdB==$" + key + ":" + key));
}

TEST_CASE("non-ASCII passwords are refused rather than hashed unlike libpq", "[scram]") {
    const auto v = scram::make_verifier("pässwort", "salt", 4096);
    REQUIRE_FALSE(v);
    CHECK(v.error().code == scram::errc::unsupported_password);
    CHECK(scram::prepare_password("plain ascii ~!"));
}
