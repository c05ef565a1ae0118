// Client side of SCRAM-SHA-256 (RFC 5802 §5), how the proxy logs in upstream.

#include "crypto.hpp"
#include "scram_attributes.hpp"
#include "scram_keys.hpp"

#include <pgsieve/wire/scram.hpp>

#include <fmt/format.h>

#include <charconv>

namespace pgsieve::wire::scram {

namespace {
constexpr std::string_view gs2_header = "n,,";

unexpected<error> malformed(std::string_view what) {
    return unexpected(error{errc::malformed_message, std::string(what)});
}
}  // namespace

client_exchange::client_exchange(std::string_view password, std::string client_nonce, std::string_view user)
    : password_(password), client_nonce_(std::move(client_nonce)) {
    // RFC 5802 saslname: '=' and ',' are escaped as =3D and =2C.
    for (const char c : user) {
        if (c == '=') user_ += "=3D";
        else if (c == ',') user_ += "=2C";
        else user_ += c;
    }
}

expected<std::string, error> client_exchange::client_first() {
    if (step_ != step::client_first) return unexpected(error{errc::out_of_order, "client-first-message already sent"});
    auto prepared = prepare_password(password_);
    if (!prepared) return unexpected(prepared.error());
    password_ = std::move(*prepared);
    client_first_bare_ = "n=" + user_ + ",r=" + client_nonce_;
    step_ = step::server_first;
    return std::string(gs2_header) + client_first_bare_;
}

expected<std::string, error> client_exchange::on_server_first(std::string_view message) {
    if (step_ != step::server_first) return unexpected(error{errc::out_of_order, "server-first-message out of order"});
    step_ = step::done;
    if (message.size() > max_message_bytes) return malformed("server-first-message too long");

    attribute_reader reader(message);
    if (reader.peek() == 'm') return unexpected(error{errc::unsupported_feature, "mandatory extensions are not supported"});
    const auto nonce = reader.expect('r');
    if (!nonce || !is_printable_nonce(*nonce)) return malformed("expected nonce 'r='");
    if (!nonce->starts_with(client_nonce_) || nonce->size() == client_nonce_.size())
        return unexpected(error{errc::nonce_mismatch, "server nonce does not extend the client nonce"});
    const auto salt_text = reader.expect('s');
    if (!salt_text) return malformed("expected salt 's='");
    const auto salt = crypto::base64_decode(*salt_text);
    if (!salt || salt->empty() || salt->size() > max_salt_bytes) return malformed("salt is not valid base64");
    const auto iter_text = reader.expect('i');
    if (!iter_text) return malformed("expected iteration count 'i='");
    int iterations = 0;
    const auto [end, ec] = std::from_chars(iter_text->data(), iter_text->data() + iter_text->size(), iterations);
    if (ec != std::errc{} || end != iter_text->data() + iter_text->size() || iterations < 1 ||
        iterations > max_iterations)
        return malformed(fmt::format("iteration count must be 1..{}", max_iterations));

    const auto keys = derive_keys(password_, *salt, iterations);

    const std::string without_proof = fmt::format("c={},r={}", crypto::base64_encode(gs2_header), *nonce);
    auth_message_ = client_first_bare_ + "," + std::string(message) + "," + without_proof;
    const auto client_signature = crypto::hmac_sha256(keys.stored_key, auth_message_);
    crypto::digest proof{};
    for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = keys.client_key[i] ^ client_signature[i];
    server_key_ = keys.server_key;
    step_ = step::server_final;
    return without_proof + ",p=" + crypto::base64_encode(proof);
}

expected<void, error> client_exchange::on_server_final(std::string_view message) {
    if (step_ != step::server_final) return unexpected(error{errc::out_of_order, "server-final-message out of order"});
    step_ = step::done;
    attribute_reader reader(message);
    if (const auto e = reader.expect('e')) return unexpected(error{errc::server_error, std::string(*e)});
    const auto signature = reader.expect('v');
    if (!signature) return malformed("expected server signature 'v='");
    const auto expected_signature = crypto::hmac_sha256(server_key_, auth_message_);
    const auto got = crypto::base64_decode(*signature);
    if (!got || !crypto::equal_constant_time(crypto::bytes(*got), expected_signature))
        return unexpected(error{errc::server_not_verified, "server signature does not match"});
    return {};
}

}  // namespace pgsieve::wire::scram
