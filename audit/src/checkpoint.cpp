#include <pgsieve/audit/checkpoint.hpp>
#include <pgsieve/audit/records.hpp>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pgsieve::audit {

std::string checkpoint_mac(std::string_view key, std::string_view instance, std::int64_t last_id,
                           std::string_view last_hash) {
    const auto message = fmt::format("pgsieve chain checkpoint\n{}\n{}\n{}", instance, last_id, last_hash);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
         message.size(), digest, &length);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
    return hex;
}

std::string checkpoint_detail(std::string_view key, std::string_view instance, std::int64_t last_id,
                              std::string_view last_hash) {
    const auto id = std::to_string(last_id);
    const auto mac = checkpoint_mac(key, instance, last_id, last_hash);
    return detail_json({{"instance", instance}, {"last_id", id}, {"last_hash", last_hash}, {"mac", mac}});
}

}  // namespace pgsieve::audit
