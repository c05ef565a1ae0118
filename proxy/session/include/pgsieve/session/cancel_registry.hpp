#pragma once
// Maps the BackendKeyData the proxy gives each client to the upstream
// session's real key, so a CancelRequest on a new socket can be forwarded.
// Shared by every worker thread; a client never learns an upstream key.

#include <pgsieve/wire/backend.hpp>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace pgsieve::session {

struct cancel_target {
    std::string host;
    std::uint16_t port = 0;
    wire::backend_key upstream_key;
};

class cancel_registry {
public:
    // Issues a key for `target`: its backend's pid and a fresh random secret
    // (never a key in use).
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
};

}  // namespace pgsieve::session
