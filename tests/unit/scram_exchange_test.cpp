// The SCRAM exchange between our client and our server, and each way a peer
// can get it wrong.

#include <pgsieve/wire/scram.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <optional>

namespace scram = pgsieve::wire::scram;

namespace {

scram::verifier verifier_for(std::string_view password) {
    auto v = scram::make_verifier(password, "salt-for-tests-1", 64);
    REQUIRE(v);
    return *v;
}

// Runs a whole exchange; returns the server's failure, if any.
std::optional<scram::errc> exchange(std::string_view stored_password, std::string_view typed_password,
                                    bool doomed = false) {
    scram::server_exchange server(verifier_for(stored_password), scram::random_nonce(), doomed);
    scram::client_exchange client(typed_password, scram::random_nonce());
    const auto first = client.client_first();
    REQUIRE(first);
    const auto server_first = server.on_client_first(*first);
    REQUIRE(server_first);
    const auto client_final = client.on_server_first(*server_first);
    REQUIRE(client_final);
    const auto server_final = server.on_client_final(*client_final);
    if (!server_final) return server_final.error().code;
    CHECK(client.on_server_final(*server_final));
    return std::nullopt;
}

}  // namespace

TEST_CASE("client and server agree on the right password", "[scram]") {
    CHECK(exchange("correct horse", "correct horse") == std::nullopt);
}

TEST_CASE("wrong password is refused at the proof", "[scram]") {
    CHECK(exchange("correct horse", "battery staple") == scram::errc::wrong_password);
}

TEST_CASE("unknown user: a mock exchange fails even with a matching proof", "[scram]") {
    CHECK(exchange("x", "x", /*doomed=*/true) == scram::errc::wrong_password);
    const std::array<std::uint8_t, 4> secret{1, 2, 3, 4};
    const auto a = scram::mock_verifier("nobody", secret);
    const auto b = scram::mock_verifier("nobody", secret);
    CHECK(a.salt == b.salt);  // stable, so repeated probes see the same salt
    CHECK(a.salt != scram::mock_verifier("someone", secret).salt);
}

TEST_CASE("server refuses what it does not offer", "[scram]") {
    const auto v = verifier_for("pw");
    auto refuse = [&](std::string_view client_first) {
        scram::server_exchange server(v, "servernonce");
        const auto r = server.on_client_first(client_first);
        REQUIRE_FALSE(r);
        return r.error().code;
    };
    CHECK(refuse("p=tls-server-end-point,,n=,r=abc") == scram::errc::unsupported_feature);
    CHECK(refuse("n,a=admin,n=,r=abc") == scram::errc::unsupported_feature);
    CHECK(refuse("n,,m=ext,n=,r=abc") == scram::errc::unsupported_feature);
    CHECK(refuse("x,,n=,r=abc") == scram::errc::malformed_message);
    CHECK(refuse("n,,r=abc") == scram::errc::malformed_message);
    CHECK(refuse("n,,n=,r=") == scram::errc::malformed_message);
    CHECK(refuse("") == scram::errc::malformed_message);
    CHECK(refuse("n") == scram::errc::malformed_message);
    CHECK(refuse(std::string(5000, 'n')) == scram::errc::malformed_message);
}

TEST_CASE("server checks the final message against the first", "[scram]") {
    const auto v = verifier_for("pw");
    auto final_error = [&](auto&& rewrite) {
        scram::server_exchange server(v, "servernonce");
        scram::client_exchange client("pw", "clientnonce");
        const auto server_first = server.on_client_first(*client.client_first());
        REQUIRE(server_first);
        std::string client_final = *client.on_server_first(*server_first);
        rewrite(client_final);
        const auto r = server.on_client_final(client_final);
        REQUIRE_FALSE(r);
        return r.error().code;
    };
    // A replayed or altered nonce.
    CHECK(final_error([](std::string& m) { m.replace(m.find("r=clientnonce"), 13, "r=clientNONCE"); }) ==
          scram::errc::nonce_mismatch);
    // Channel binding that does not repeat the gs2 header ("y,," instead of "n,,").
    CHECK(final_error([](std::string& m) { m.replace(0, 6, "c=eSws"); }) == scram::errc::malformed_message);
    // No proof at all.
    CHECK(final_error([](std::string& m) { m.erase(m.find(",p=")); }) == scram::errc::malformed_message);
    // A proof of the wrong length.
    CHECK(final_error([](std::string& m) { m = m.substr(0, m.find(",p=")) + ",p=AAAA"; }) ==
          scram::errc::malformed_message);
}

TEST_CASE("client refuses a server that cannot prove it knows the password", "[scram]") {
    scram::server_exchange server(verifier_for("pw"), "servernonce");
    scram::client_exchange client("pw", "clientnonce");
    const auto server_first = server.on_client_first(*client.client_first());
    const auto server_final = server.on_client_final(*client.on_server_first(*server_first));
    REQUIRE(server_final);
    std::string forged = *server_final;
    forged[3] = forged[3] == 'A' ? 'B' : 'A';
    const auto r = client.on_server_final(forged);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == scram::errc::server_not_verified);
}

TEST_CASE("client reports the server's own error and rejects bad server-first", "[scram]") {
    {
        scram::client_exchange client("pw", "clientnonce");
        REQUIRE(client.client_first());
        REQUIRE(client.on_server_first("r=clientnonceXYZ,s=c2FsdA==,i=16"));
        const auto r = client.on_server_final("e=invalid-proof");
        REQUIRE_FALSE(r);
        CHECK(r.error().code == scram::errc::server_error);
        CHECK(r.error().detail == "invalid-proof");
    }
    auto server_first_error = [](std::string_view message) {
        scram::client_exchange client("pw", "clientnonce");
        REQUIRE(client.client_first());
        const auto r = client.on_server_first(message);
        REQUIRE_FALSE(r);
        return r.error().code;
    };
    CHECK(server_first_error("r=othernonce,s=c2FsdA==,i=16") == scram::errc::nonce_mismatch);
    CHECK(server_first_error("r=clientnonce,s=c2FsdA==,i=16") == scram::errc::nonce_mismatch);
    CHECK(server_first_error("r=clientnonceX,s=!!,i=16") == scram::errc::malformed_message);
    CHECK(server_first_error("r=clientnonceX,s=c2FsdA==,i=0") == scram::errc::malformed_message);
    CHECK(server_first_error("r=clientnonceX,s=c2FsdA==,i=999999999") == scram::errc::malformed_message);
    CHECK(server_first_error("r=clientnonceX,s=c2FsdA==") == scram::errc::malformed_message);
}

TEST_CASE("steps out of order are errors, not undefined behaviour", "[scram]") {
    scram::server_exchange server(verifier_for("pw"), "n");
    CHECK(server.on_client_final("c=biws,r=x,p=AAAA").error().code == scram::errc::out_of_order);
    scram::client_exchange client("pw", "c");
    CHECK(client.on_server_final("v=AAAA").error().code == scram::errc::out_of_order);
}
