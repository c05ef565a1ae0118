#pragma once
// Cryptographically strong randomness (OpenSSL's CSPRNG), for keys and nonces.

#include <cstdint>
#include <span>

namespace pgsieve::wire {

void random_bytes(std::span<std::uint8_t> out);

}  // namespace pgsieve::wire
