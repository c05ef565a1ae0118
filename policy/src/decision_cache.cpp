#include <pgsieve/policy/decision_cache.hpp>

#include <fmt/format.h>

namespace pgsieve::policy {

std::string decision_cache::key(const scope& s, std::string_view sql) {
    // NUL cannot occur in a policy name, a search_path or statement text.
    std::string k = fmt::format("{}", s.generation);
    k += '\0';
    k += s.policy;
    k += '\0';
    k += s.search_path;
    k += '\0';
    k += sql;
    return k;
}

std::shared_ptr<const decision> decision_cache::find(const scope& s, std::string_view sql) {
    const auto it = entries_.find(key(s, sql));
    if (it == entries_.end()) return nullptr;
    recency_.splice(recency_.begin(), recency_, it->second.recency);
    return it->second.value;
}

void decision_cache::insert(const scope& s, std::string_view sql, std::shared_ptr<const decision> d) {
    if (capacity_ == 0) return;
    auto k = key(s, sql);
    if (auto it = entries_.find(k); it != entries_.end()) {
        it->second.value = std::move(d);
        recency_.splice(recency_.begin(), recency_, it->second.recency);
        return;
    }
    if (entries_.size() >= capacity_) {
        entries_.erase(recency_.back());
        recency_.pop_back();
    }
    recency_.push_front(k);
    entries_.emplace(std::move(k), entry{std::move(d), recency_.begin()});
}

}  // namespace pgsieve::policy
