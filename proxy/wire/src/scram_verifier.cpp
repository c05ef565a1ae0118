#include "crypto.hpp"
#include "scram_keys.hpp"

#include <pgsieve/wire/scram.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace pgsieve::wire::scram {

namespace {

constexpr std::string_view prefix = "SCRAM-SHA-256$";

unexpected<error> bad_verifier(std::string_view why) {
    return unexpected(error{errc::malformed_verifier, std::string(why)});
}

bool decode_key(std::string_view text, std::array<std::uint8_t, 32>& out) {
    const auto raw = crypto::base64_decode(text);
    if (!raw || raw->size() != out.size()) return false;
    std::memcpy(out.data(), raw->data(), out.size());
    return true;
}

}  // namespace

bool looks_like_verifier(std::string_view text) {
    return text.starts_with(prefix);
}

expected<verifier, error> parse_verifier(std::string_view text) {
    if (!text.starts_with(prefix)) return bad_verifier("does not start with SCRAM-SHA-256$");
    text.remove_prefix(prefix.size());
    const auto dollar = text.find('$');
    if (dollar == std::string_view::npos) return bad_verifier("missing '$' before the keys");
    const std::string_view params = text.substr(0, dollar);
    const std::string_view keys = text.substr(dollar + 1);

    const auto colon1 = params.find(':');
    const auto colon2 = keys.find(':');
    if (colon1 == std::string_view::npos || colon2 == std::string_view::npos)
        return bad_verifier("expected <iterations>:<salt>$<StoredKey>:<ServerKey>");

    verifier v;
    const std::string_view iter_text = params.substr(0, colon1);
    const auto [end, ec] = std::from_chars(iter_text.data(), iter_text.data() + iter_text.size(), v.iterations);
    if (ec != std::errc{} || end != iter_text.data() + iter_text.size() || v.iterations < 1 ||
        v.iterations > max_iterations)
        return bad_verifier(fmt::format("iteration count must be 1..{}", max_iterations));

    auto salt = crypto::base64_decode(params.substr(colon1 + 1));
    if (!salt || salt->empty() || salt->size() > max_salt_bytes) return bad_verifier("salt is not valid base64");
    v.salt = std::move(*salt);

    if (!decode_key(keys.substr(0, colon2), v.stored_key))
        return bad_verifier("StoredKey is not 32 bytes of base64");
    if (!decode_key(keys.substr(colon2 + 1), v.server_key))
        return bad_verifier("ServerKey is not 32 bytes of base64");
    return v;
}

std::string to_string(const verifier& v) {
    return fmt::format("{}{}:{}${}:{}", prefix, v.iterations, crypto::base64_encode(v.salt),
                       crypto::base64_encode(v.stored_key), crypto::base64_encode(v.server_key));
}

expected<std::string, error> prepare_password(std::string_view password) {
    const bool ascii = std::all_of(password.begin(), password.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (!ascii)
        return unexpected(error{errc::unsupported_password,
                                "passwords with non-ASCII characters need SASLprep (Unicode NFKC), which "
                                "pgsieve does not implement; use an ASCII password"});
    if (password.find('\0') != std::string_view::npos)
        return unexpected(error{errc::unsupported_password, "password contains a NUL byte"});
    return std::string(password);
}

expected<verifier, error> make_verifier(std::string_view password, std::string_view salt, int iterations) {
    auto prepared = prepare_password(password);
    if (!prepared) return unexpected(prepared.error());
    if (iterations < 1 || iterations > max_iterations)
        return bad_verifier(fmt::format("iteration count must be 1..{}", max_iterations));

    const auto keys = derive_keys(*prepared, salt, iterations);
    verifier v;
    v.iterations = iterations;
    v.salt = std::string(salt);
    v.stored_key = keys.stored_key;
    v.server_key = keys.server_key;
    return v;
}

expected<verifier, error> generate_verifier(std::string_view password, int iterations) {
    std::array<std::uint8_t, 16> salt{};
    crypto::random_bytes(salt);
    return make_verifier(password, std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
                         iterations);
}

verifier mock_verifier(std::string_view user, std::span<const std::uint8_t> secret) {
    const auto seed = crypto::hmac_sha256(secret, user);
    verifier v;
    v.salt.assign(reinterpret_cast<const char*>(seed.data()), 16);
    v.stored_key = crypto::hmac_sha256(seed, "mock StoredKey");
    v.server_key = crypto::hmac_sha256(seed, "mock ServerKey");
    return v;
}

std::string random_nonce() {
    std::array<std::uint8_t, 18> raw{};
    crypto::random_bytes(raw);
    return crypto::base64_encode(raw);
}

}  // namespace pgsieve::wire::scram
