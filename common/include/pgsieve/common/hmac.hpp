#pragma once
// HMAC-SHA-256 as lowercase hex: signed audit checkpoints, approval webhooks,
// hashed masks.

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

namespace pgsieve {

[[nodiscard]] std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// One key, many messages (a masked column's values): the key's inner and
// outer SHA-256 states are computed once, so a message costs two digests
// from those states — a tenth of hmac_sha256_hex's time. Not thread-safe.
class hmac_sha256 {
public:
    explicit hmac_sha256(std::string_view key);
    [[nodiscard]] std::string hex(std::string_view message);

private:
    struct free_context {
        void operator()(EVP_MD_CTX* c) const;
    };
    using context = std::unique_ptr<EVP_MD_CTX, free_context>;
    context inner_, outer_, work_;
};

}  // namespace pgsieve
