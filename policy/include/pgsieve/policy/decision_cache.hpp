#pragma once
// Decisions remembered by statement text, for statements a client sends
// again and again. A key names everything a decision depends on besides the
// text: the policy generation (configuration and catalog), the policy and
// the session's search_path. Not thread-safe: one cache per worker thread.

#include <pgsieve/policy/decide.hpp>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgsieve::policy {

class decision_cache {
public:
    explicit decision_cache(std::size_t capacity = 4096) : capacity_(capacity) {}

    // The scope of a key: bump `generation` on every reload or catalog refresh.
    struct scope {
        std::uint64_t generation = 0;
        std::string_view policy;
        std::string_view search_path;  // as sent upstream
    };

    std::shared_ptr<const decision> find(const scope& s, std::string_view sql);
    void insert(const scope& s, std::string_view sql, std::shared_ptr<const decision> d);
    std::size_t size() const { return entries_.size(); }

private:
    static std::string key(const scope& s, std::string_view sql);

    struct entry {
        std::shared_ptr<const decision> value;
        std::list<std::string>::iterator recency;
    };
    std::size_t capacity_;
    std::unordered_map<std::string, entry> entries_;
    std::list<std::string> recency_;  // most recent first
};

}  // namespace pgsieve::policy
