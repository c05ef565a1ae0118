#pragma once
// Counts connections per client identity across every worker thread.

#include <map>
#include <mutex>
#include <string>

namespace pgsieve::session {

class connection_limits {
public:
    // Takes a slot for `client` unless it already has `max` (0: no limit).
    bool acquire(const std::string& client, int max) {
        std::lock_guard lock(mutex_);
        int& n = counts_[client];
        if (max > 0 && n >= max) return false;
        ++n;
        return true;
    }
    void release(const std::string& client) {
        std::lock_guard lock(mutex_);
        if (auto it = counts_.find(client); it != counts_.end() && --it->second <= 0) counts_.erase(it);
    }
    int count(const std::string& client) const {
        std::lock_guard lock(mutex_);
        const auto it = counts_.find(client);
        return it == counts_.end() ? 0 : it->second;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, int> counts_;
};

}  // namespace pgsieve::session
