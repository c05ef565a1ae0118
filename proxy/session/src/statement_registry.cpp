#include <pgsieve/session/statement_registry.hpp>

#include <algorithm>

namespace pgsieve::session {

void statement_registry::pend(ticket t, change c) { pending_.push_back({t, batch_, std::move(c)}); }

void statement_registry::apply(const change& c) {
    auto& space = held(c.space);
    switch (c.what) {
        case change::kind::put:
            space[c.name] = c.entry;
            if (c.space == name_space::portal) opened_in_transaction_.insert(c.name);
            break;
        case change::kind::erase:
            space.erase(c.name);
            break;
        case change::kind::clear:
            space.clear();
            break;
    }
}

void statement_registry::confirm(ticket t) {
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->t == t) {
            apply(it->c);
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
}

void statement_registry::settle(ticket t) {
    std::erase_if(pending_, [t](const auto& p) { return p.t <= t; });
}

void statement_registry::end_transaction(bool rolled_back) {
    std::erase_if(portals_, [&](const auto& p) {
        if (!p.second->holdable) return true;
        return rolled_back && opened_in_transaction_.contains(p.first);
    });
    opened_in_transaction_.clear();
}

std::vector<std::shared_ptr<named_entry>> statement_registry::candidates(name_space space,
                                                                          const std::string& name) const {
    std::vector<std::shared_ptr<named_entry>> out;
    const auto& confirmed = held(space);
    if (const auto it = confirmed.find(name); it != confirmed.end()) out.push_back(it->second);
    for (const auto& p : pending_) {
        const auto& c = p.c;
        if (c.space != space || (c.what != change::kind::clear && c.name != name)) continue;
        if (p.batch == batch_) {
            // Earlier in this batch: certain for whatever follows it.
            out.clear();
            if (c.what == change::kind::put) out.push_back(c.entry);
        } else if (c.what == change::kind::put) {
            // Before this batch, unanswered: it may or may not happen, and the old entry may stay.
            out.push_back(c.entry);
        }
    }
    return out;
}

std::size_t statement_registry::count(name_space space) const {
    std::size_t n = held(space).size();
    for (const auto& p : pending_) {
        if (p.c.space == space && p.c.what == change::kind::put && !held(space).contains(p.c.name)) ++n;
    }
    return n;
}

namespace {
// What one text holds: the client's, and the scoped text its decisions keep
// (tens of KiB for a discovery statement; counted even when shared).
std::size_t held_bytes(const named_entry::text_decision& t) {
    std::size_t n = t.text->size();
    if (t.upstream) n += t.upstream->scoped_sql.size();
    if (t.decision && t.decision != t.upstream) n += t.decision->scoped_sql.size();
    return n;
}
}  // namespace

std::size_t statement_registry::prepared_text_bytes() const {
    std::size_t n = 0;
    for (const auto& [name, e] : statements_) {
        for (const auto& t : e->texts) n += held_bytes(t);
    }
    for (const auto& p : pending_) {
        if (p.c.space == name_space::statement && p.c.what == change::kind::put)
            for (const auto& t : p.c.entry->texts) n += held_bytes(t);
    }
    return n;
}

bool statement_registry::may_hold(name_space space, const std::string& name) const {
    return !candidates(space, name).empty();
}

}  // namespace pgsieve::session
