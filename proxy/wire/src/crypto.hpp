#pragma once
// The few cryptographic primitives SCRAM-SHA-256 needs, over OpenSSL's
// libcrypto. Private to wire: callers see SCRAM, not hashes.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pgsieve::wire::crypto {

using digest = std::array<std::uint8_t, 32>;

digest sha256(std::span<const std::uint8_t> data);
digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view message);
digest pbkdf2_sha256(std::string_view password, std::string_view salt, int iterations);

// Fills `out` from the CSPRNG; aborts the process if it cannot (there is no
// safe fallback for missing randomness in an authentication path).
void random_bytes(std::span<std::uint8_t> out);

// Comparison whose time does not depend on where the inputs differ.
bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

std::string base64_encode(std::span<const std::uint8_t> data);
inline std::string base64_encode(std::string_view data) {
    return base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}
// Strict RFC 4648 decoding: padding required, no whitespace, no stray bits.
std::optional<std::string> base64_decode(std::string_view text);

inline std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace pgsieve::wire::crypto
