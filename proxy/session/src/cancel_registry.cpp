#include <pgsieve/session/cancel_registry.hpp>
#include <pgsieve/wire/random.hpp>

#include <array>
#include <cstring>

namespace pgsieve::session {

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
        std::memcpy(&key.secret_key, raw.data(), 4);
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
