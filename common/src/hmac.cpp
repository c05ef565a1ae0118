#include <pgsieve/common/hmac.hpp>

#include <pgsieve/common/hex.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstring>

namespace pgsieve {

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), digest, &length);
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

void hmac_sha256::free_context::operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }

hmac_sha256::hmac_sha256(std::string_view key)
    : inner_(EVP_MD_CTX_new()), outer_(EVP_MD_CTX_new()), work_(EVP_MD_CTX_new()) {
    // RFC 2104: a key longer than the block is hashed; the block is the key
    // padded with zeros, XORed with 0x36 (inner) and 0x5c (outer).
    constexpr std::size_t block = 64;
    std::array<unsigned char, block> k{};
    if (key.size() > block) {
        unsigned int length = 0;
        EVP_Digest(key.data(), key.size(), k.data(), &length, EVP_sha256(), nullptr);
    } else {
        std::memcpy(k.data(), key.data(), key.size());
    }
    std::array<unsigned char, block> pad{};
    for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x36;
    EVP_DigestInit_ex(inner_.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(inner_.get(), pad.data(), block);
    for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x5c;
    EVP_DigestInit_ex(outer_.get(), EVP_sha256(), nullptr);
    EVP_DigestUpdate(outer_.get(), pad.data(), block);
}

std::string hmac_sha256::hex(std::string_view message) {
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_MD_CTX_copy_ex(work_.get(), inner_.get());
    EVP_DigestUpdate(work_.get(), message.data(), message.size());
    EVP_DigestFinal_ex(work_.get(), inner, &length);
    EVP_MD_CTX_copy_ex(work_.get(), outer_.get());
    EVP_DigestUpdate(work_.get(), inner, length);
    EVP_DigestFinal_ex(work_.get(), digest, &length);
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace pgsieve
