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

server_exchange::server_exchange(verifier v, std::string server_nonce, bool doomed, std::string channel_binding)
    : verifier_(std::move(v)),
      server_nonce_(std::move(server_nonce)),
      doomed_(doomed),
      channel_binding_(std::move(channel_binding)) {}

expected<std::string, error> server_exchange::on_client_first(std::string_view message, bool plus) {
    if (step_ != step::client_first) return unexpected(error{errc::out_of_order, "client-first-message already seen"});
    step_ = step::done;  // any failure below ends the exchange
    if (message.size() > max_message_bytes) return malformed("client-first-message too long");
    if (plus && channel_binding_.empty())
        return unexpected(error{errc::unsupported_feature, "channel binding was not offered (SCRAM-SHA-256-PLUS)"});

    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    if (message.empty()) return malformed("empty client-first-message");
    std::size_t flag_end = 1;
    if (message[0] == 'p') {
        if (channel_binding_.empty())
            return unexpected(error{errc::unsupported_feature, "channel binding was not offered (SCRAM-SHA-256-PLUS)"});
        constexpr std::string_view binding = "p=tls-server-end-point";
        if (!message.starts_with(binding))
            return unexpected(error{errc::unsupported_feature, "only channel binding type tls-server-end-point is supported"});
        if (!plus) return malformed("channel binding requested without SCRAM-SHA-256-PLUS");
        flag_end = binding.size();
    } else if (message[0] == 'y') {
        // The client could bind but believes the server cannot: with PLUS
        // offered, a party in between removed it.
        if (!channel_binding_.empty())
            return unexpected(error{errc::malformed_message, "SCRAM channel binding negotiation error"});
    } else if (message[0] != 'n') {
        return malformed("expected gs2 channel-binding flag 'n', 'y' or 'p'");
    }
    if (plus && message[0] != 'p') return malformed("SCRAM-SHA-256-PLUS without channel binding");
    if (message.size() < flag_end + 2 || message[flag_end] != ',') return malformed("truncated gs2 header");
    if (message[flag_end + 1] != ',')
        return unexpected(error{errc::unsupported_feature, "authorization identity (authzid) is not supported"});
    plus_ = plus;
    gs2_header_ = std::string(message.substr(0, flag_end + 2));
    client_first_bare_ = std::string(message.substr(flag_end + 2));

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
    // c= is the gs2 header, followed with PLUS by the TLS connection's binding data.
    if (!binding_raw || *binding_raw != gs2_header_ + (plus_ ? channel_binding_ : std::string()))
        return malformed(plus_ ? "SCRAM channel binding check failed" : "channel binding does not repeat the gs2 header");
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
