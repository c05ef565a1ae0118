#include <pgsieve/policy/decision_cache.hpp>

#include <fmt/format.h>

namespace pgsieve::policy {

namespace {
std::size_t bytes_of(const std::vector<std::string>& items) {
    std::size_t n = items.capacity() * sizeof(std::string);
    for (const auto& i : items) n += i.capacity();
    return n;
}
}  // namespace

std::size_t approximate_bytes(const decision& d) {
    std::size_t n = sizeof(decision) + d.message.capacity() + d.detail.capacity() + d.hint.capacity() +
                    d.scoped_sql.capacity() + d.policy_version.capacity() + d.policy.capacity() +
                    d.sqlstate.capacity() + bytes_of(d.tables) + bytes_of(d.columns) + bytes_of(d.functions) +
                    bytes_of(d.row_scoped) + bytes_of(d.scoped);
    for (const auto& e : d.effects) n += sizeof(e) + e.name.capacity() + e.text.capacity();
    for (const auto& p : d.parts)
        n += sizeof(p) + p.text.capacity() + bytes_of(p.tables) + bytes_of(p.columns) + bytes_of(p.row_scoped);
    return n;
}

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
    const auto it = index_.find(key(s, sql));
    if (it == index_.end()) return nullptr;
    recency_.splice(recency_.begin(), recency_, it->second);
    return it->second->value;
}

void decision_cache::evict_last() {
    auto& last = recency_.back();
    bytes_ -= last.bytes;
    index_.erase(last.key);
    recency_.pop_back();
}

void decision_cache::insert(const scope& s, std::string_view sql, std::shared_ptr<const decision> d) {
    if (max_entries_ == 0) return;
    auto k = key(s, sql);
    // The shared decision may be held elsewhere too; what the cache keeps alive is counted whole.
    const std::size_t bytes = k.capacity() + approximate_bytes(*d) + sizeof(entry) + 64;
    if (bytes > max_bytes_ / 4) return;
    if (const auto it = index_.find(k); it != index_.end()) {
        const auto node = it->second;
        bytes_ -= node->bytes;
        index_.erase(it);
        recency_.erase(node);
    }
    while (!recency_.empty() && (index_.size() >= max_entries_ || bytes_ + bytes > max_bytes_)) evict_last();
    recency_.push_front(entry{std::move(k), std::move(d), bytes});
    bytes_ += bytes;
    index_.emplace(recency_.front().key, recency_.begin());
}

}  // namespace pgsieve::policy
