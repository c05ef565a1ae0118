#pragma once
// Decisions remembered by statement text, for statements a client sends
// again and again. A key names everything a decision depends on besides the
// text: the policy generation (configuration and catalog), the policy and
// the session's search_path. Bounded in entries and in bytes (keys and the
// decisions' texts), least recently used first out: a client sending long
// statements cannot grow its session through it. Not thread-safe: one cache
// per session.

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
    explicit decision_cache(std::size_t max_entries = 256, std::size_t max_bytes = 1u << 20)
        : max_entries_(max_entries), max_bytes_(max_bytes) {}

    // The scope of a key: bump `generation` on every reload or catalog refresh.
    struct scope {
        std::uint64_t generation = 0;
        std::string_view policy;
        std::string_view search_path;  // as sent upstream
    };

    std::shared_ptr<const decision> find(const scope& s, std::string_view sql);
    // An entry larger than a quarter of the byte bound is not kept.
    void insert(const scope& s, std::string_view sql, std::shared_ptr<const decision> d);
    std::size_t size() const { return index_.size(); }
    std::size_t bytes() const { return bytes_; }

private:
    static std::string key(const scope& s, std::string_view sql);

    struct entry {
        std::string key;  // the one copy; index_ views it
        std::shared_ptr<const decision> value;
        std::size_t bytes = 0;
    };
    void evict_last();

    std::size_t max_entries_, max_bytes_;
    std::size_t bytes_ = 0;
    std::list<entry> recency_;  // most recent first
    std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
};

// What a decision holds in memory, roughly (its texts and lists).
[[nodiscard]] std::size_t approximate_bytes(const decision& d);

}  // namespace pgsieve::policy
