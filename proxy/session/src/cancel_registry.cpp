#include <pgsieve/session/cancel_registry.hpp>
#include <pgsieve/wire/random.hpp>

#include <array>
#include <cstring>

namespace pgsieve::session {

std::uint8_t replica_tag(std::string_view instance_id) {
    // FNV-1a: the same tag on every replica and every build, folded to a byte.
    std::uint32_t h = 2166136261u;
    for (const char c : instance_id) {
        h ^= static_cast<unsigned char>(c);
        h *= 16777619u;
    }
    return static_cast<std::uint8_t>(h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24));
}

wire::backend_key cancel_registry::add(cancel_target target) {
    std::lock_guard lock(mutex_);
    for (;;) {
        std::array<std::uint8_t, 4> raw{};
        wire::random_bytes(raw);
        wire::backend_key key;
        // The real backend's pid, so pg_backend_pid() and the pid of a
        // NotificationResponse match what the client was told; the secret is
        // pgsieve's own, so the upstream's is never seen.
        key.process_id = target.upstream_key.process_id;
        std::uint32_t secret = 0;
        std::memcpy(&secret, raw.data(), 4);
        secret = (secret & 0x00FFFFFFu) | (std::uint32_t(tag_) << 24);
        key.secret_key = static_cast<std::int32_t>(secret);
        if (targets_.emplace(slot(key), std::move(target)).second) return key;
    }
}

void cancel_registry::remove(wire::backend_key proxy_key) {
    std::lock_guard lock(mutex_);
    targets_.erase(slot(proxy_key));
}

std::optional<cancel_target> cancel_registry::find(wire::backend_key proxy_key) const {
    std::lock_guard lock(mutex_);
    const auto it = targets_.find(slot(proxy_key));
    if (it == targets_.end()) return std::nullopt;
    return it->second;
}

std::size_t cancel_registry::size() const {
    std::lock_guard lock(mutex_);
    return targets_.size();
}

}  // namespace pgsieve::session
