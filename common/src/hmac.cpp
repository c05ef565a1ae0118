#include <pgsieve/common/hmac.hpp>

#include <pgsieve/common/hex.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pgsieve {

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), digest, &length);
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace pgsieve
