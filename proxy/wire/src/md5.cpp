#include <pgsieve/wire/md5.hpp>

#include <openssl/evp.h>

namespace pgsieve::wire {

namespace {
std::string md5_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}
}  // namespace

std::string md5_password_response(std::string_view user, std::string_view password, std::string_view salt) {
    const std::string inner = md5_hex(std::string(password) + std::string(user));
    return "md5" + md5_hex(inner + std::string(salt));
}

}  // namespace pgsieve::wire
