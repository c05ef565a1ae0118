#pragma once
// Maps the BackendKeyData the proxy gives each client to the upstream
// session's real key, so a CancelRequest on a new socket can be forwarded.
// Shared by every worker thread; a client never learns an upstream key.

#include <pgsieve/wire/backend.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgsieve::session {

struct cancel_target {
    std::string host;
    std::uint16_t port = 0;
    wire::backend_key upstream_key;
};

// Behind a load balancer a CancelRequest may reach a replica that did not
// issue its key. Each key says which replica did: the secret's high byte is
// that replica's tag (PgBouncer's peering spends key bits on a peer id the
// same way), so a foreign key goes to the one peer with that tag, not to all.
// The pid stays the backend's own, as pg_backend_pid() reports it.
[[nodiscard]] std::uint8_t replica_tag(std::string_view instance_id);
[[nodiscard]] inline std::uint8_t tag_of(wire::backend_key k) {
    return static_cast<std::uint8_t>(static_cast<std::uint32_t>(k.secret_key) >> 24);
}

class cancel_registry {
public:
    // The tag this replica's keys carry (set once, before any session).
    void set_tag(std::uint8_t tag) { tag_ = tag; }
    std::uint8_t tag() const { return tag_; }
    // Issues a key for `target`: its backend's pid and a fresh secret, 24
    // random bits under the tag (never a key in use).
    wire::backend_key add(cancel_target target);
    void remove(wire::backend_key proxy_key);
    std::optional<cancel_target> find(wire::backend_key proxy_key) const;
    std::size_t size() const;

private:
    static std::uint64_t slot(wire::backend_key k) {
        return (std::uint64_t(std::uint32_t(k.process_id)) << 32) | std::uint32_t(k.secret_key);
    }
    mutable std::mutex mutex_;
    std::unordered_map<std::uint64_t, cancel_target> targets_;
    std::uint8_t tag_ = 0;
};

}  // namespace pgsieve::session
