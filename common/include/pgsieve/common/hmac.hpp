#pragma once
// HMAC-SHA-256 as lowercase hex: signed audit checkpoints, approval webhooks.

#include <string>
#include <string_view>

namespace pgsieve {

[[nodiscard]] std::string hmac_sha256_hex(std::string_view key, std::string_view message);

}  // namespace pgsieve
