#pragma once
// What decisions are made against: the configuration and the upstream
// catalog, with a generation that changes whenever either is replaced.
// Shared by every session; swapped whole, atomically, on reload or refresh.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>
#include <pgsieve/policy/upstream_check.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

namespace pgsieve::session {

struct policy_snapshot {
    std::shared_ptr<const config::config> cfg;
    std::shared_ptr<const policy::catalog> catalog;  // null until first loaded
    // The upstream roles held against the policies (empty without a catalog).
    policy::upstream_report upstream;
    std::uint64_t generation = 0;
};

class policy_source {
public:
    std::shared_ptr<const policy_snapshot> current() const {
        std::lock_guard lock(current_mutex_);
        return current_;
    }

    // Installs a new configuration and/or catalog (null keeps the current one).
    void update(std::shared_ptr<const config::config> cfg, std::shared_ptr<const policy::catalog> catalog) {
        std::lock_guard lock(update_mutex_);  // a reload and a refresh must not lose each other's change
        auto old = current();
        auto next = std::make_shared<policy_snapshot>();
        next->cfg = cfg ? std::move(cfg) : (old ? old->cfg : nullptr);
        next->catalog = catalog ? std::move(catalog) : (old ? old->catalog : nullptr);
        if (next->cfg && next->catalog) next->upstream = policy::check_upstream(*next->cfg, *next->catalog);
        next->generation = (old ? old->generation : 0) + 1;
        std::shared_ptr<const policy_snapshot> replaced;  // released outside the lock
        std::lock_guard swap(current_mutex_);
        replaced = std::exchange(current_, std::move(next));
    }

    // Forgets everything: decisions fail closed until the next update.
    void reset() {
        std::lock_guard lock(update_mutex_);
        std::lock_guard swap(current_mutex_);
        current_.reset();
    }

private:
    std::mutex update_mutex_;
    // A plain mutex, not std::atomic<std::shared_ptr>: GCC 12's lock-bit
    // implementation of the latter is reported as a data race by
    // ThreadSanitizer, and a mutex held for a pointer copy costs as little.
    mutable std::mutex current_mutex_;
    std::shared_ptr<const policy_snapshot> current_;
};

}  // namespace pgsieve::session
