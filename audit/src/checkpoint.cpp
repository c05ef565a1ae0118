#include <pgsieve/audit/checkpoint.hpp>
#include <pgsieve/audit/records.hpp>

#include <pgsieve/common/hmac.hpp>

#include <fmt/format.h>

namespace pgsieve::audit {

std::string checkpoint_mac(std::string_view key, std::string_view instance, std::int64_t last_id,
                           std::string_view last_hash) {
    return hmac_sha256_hex(key, fmt::format("pgsieve chain checkpoint\n{}\n{}\n{}", instance, last_id, last_hash));
}

std::string checkpoint_detail(std::string_view key, std::string_view instance, std::int64_t last_id,
                              std::string_view last_hash) {
    const auto id = std::to_string(last_id);
    const auto mac = checkpoint_mac(key, instance, last_id, last_hash);
    return detail_json({{"instance", instance}, {"last_id", id}, {"last_hash", last_hash}, {"mac", mac}});
}

}  // namespace pgsieve::audit
