// Server side of SCRAM-SHA-256 (RFC 5802 §5), following what PostgreSQL's
// auth-scram.c accepts: no channel binding offered, no authzid, no "m=".

#include "crypto.hpp"
#include "scram_attributes.hpp"

#include <pgsieve/wire/scram.hpp>

#include <fmt/format.h>

namespace pgsieve::wire::scram {

namespace {
unexpected<error> malformed(std::string_view what) {
    return unexpected(error{errc::malformed_message, std::string(what)});
}
}  // namespace

server_exchange::server_exchange(verifier v, std::string server_nonce, bool doomed)
    : verifier_(std::move(v)), server_nonce_(std::move(server_nonce)), doomed_(doomed) {}

expected<std::string, error> server_exchange::on_client_first(std::string_view message) {
    if (step_ != step::client_first) return unexpected(error{errc::out_of_order, "client-first-message already seen"});
    step_ = step::done;  // any failure below ends the exchange
    if (message.size() > max_message_bytes) return malformed("client-first-message too long");

    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    if (message.empty()) return malformed("empty client-first-message");
    if (message[0] == 'p')
        return unexpected(error{errc::unsupported_feature, "channel binding was not offered (SCRAM-SHA-256-PLUS)"});
    if ((message[0] != 'n' && message[0] != 'y') || message.size() < 2 || message[1] != ',')
        return malformed("expected gs2 channel-binding flag 'n' or 'y'");
    if (message.size() < 3) return malformed("truncated gs2 header");
    if (message[2] != ',')
        return unexpected(error{errc::unsupported_feature, "authorization identity (authzid) is not supported"});
    gs2_header_ = std::string(message.substr(0, 3));
    client_first_bare_ = std::string(message.substr(3));

    attribute_reader reader(client_first_bare_);
    if (reader.peek() == 'm') return unexpected(error{errc::unsupported_feature, "mandatory extensions are not supported"});
    // The user name is ignored, as PostgreSQL does: the startup packet named
    // the user already, and libpq sends it empty.
    if (!reader.expect('n')) return malformed("expected username attribute 'n='");
    const auto client_nonce = reader.expect('r');
    if (!client_nonce || !is_printable_nonce(*client_nonce)) return malformed("expected printable nonce 'r='");

    nonce_ = std::string(*client_nonce) + server_nonce_;
    server_first_ = fmt::format("r={},s={},i={}", nonce_, crypto::base64_encode(verifier_.salt), verifier_.iterations);
    step_ = step::client_final;
    return server_first_;
}

expected<std::string, error> server_exchange::on_client_final(std::string_view message) {
    if (step_ != step::client_final) return unexpected(error{errc::out_of_order, "client-final-message out of order"});
    step_ = step::done;
    if (message.size() > max_message_bytes) return malformed("client-final-message too long");

    // client-final-message-without-proof "," proof; the proof is the last attribute.
    const auto proof_at = message.rfind(",p=");
    if (proof_at == std::string_view::npos) return malformed("expected proof 'p='");
    const std::string_view without_proof = message.substr(0, proof_at);

    attribute_reader reader(without_proof);
    const auto binding = reader.expect('c');
    if (!binding) return malformed("expected channel binding 'c='");
    const auto binding_raw = crypto::base64_decode(*binding);
    if (!binding_raw || *binding_raw != gs2_header_)
        return malformed("channel binding does not repeat the gs2 header");
    const auto nonce = reader.expect('r');
    if (!nonce) return malformed("expected nonce 'r='");
    if (*nonce != nonce_) return unexpected(error{errc::nonce_mismatch, "nonce differs from server-first-message"});

    const auto proof = crypto::base64_decode(message.substr(proof_at + 3));
    if (!proof || proof->size() != verifier_.stored_key.size()) return malformed("proof is not 32 bytes of base64");

    const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    const auto client_signature = crypto::hmac_sha256(verifier_.stored_key, auth_message);
    crypto::digest client_key{};
    for (std::size_t i = 0; i < client_key.size(); ++i)
        client_key[i] = static_cast<std::uint8_t>((*proof)[i]) ^ client_signature[i];
    const bool match = crypto::equal_constant_time(crypto::sha256(client_key), verifier_.stored_key);
    if (!match || doomed_) return unexpected(error{errc::wrong_password, "client proof does not match"});

    const auto server_signature = crypto::hmac_sha256(verifier_.server_key, auth_message);
    return "v=" + crypto::base64_encode(server_signature);
}

}  // namespace pgsieve::wire::scram
