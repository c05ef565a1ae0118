#include <pgsieve/session/approvals.hpp>

#include <pgsieve/common/hex.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/random.hpp>

#include <array>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

// Tickets are read aloud and typed: no 0/O, 1/I.
constexpr std::string_view ticket_alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

std::string new_ticket_id() {
    std::array<std::uint8_t, 6> bytes{};
    wire::random_bytes(bytes);
    std::string id = "AP-";
    for (const auto b : bytes) id += ticket_alphabet[b % ticket_alphabet.size()];
    return id;
}

}  // namespace

bool live(const approval_ticket& t, sys_time now) {
    if (t.state == ticket_state::used || t.state == ticket_state::voided) return false;
    return now < t.expires;
}

std::string parameters_json(std::string_view bind_parameters) {
    if (bind_parameters.empty()) return "[]";
    const auto int16 = [&](std::size_t at) {
        return static_cast<std::int16_t>((static_cast<std::uint8_t>(bind_parameters[at]) << 8) |
                                         static_cast<std::uint8_t>(bind_parameters[at + 1]));
    };
    std::size_t at = 0;
    if (bind_parameters.size() < 2) return "null";
    const int formats = int16(0);
    at = 2 + 2 * static_cast<std::size_t>(std::max(formats, 0));
    if (formats < 0 || bind_parameters.size() < at + 2) return "null";
    const auto format_of = [&](int i) {
        if (formats == 0 || (formats > 1 && i >= formats)) return 0;
        return static_cast<int>(int16(2 + 2 * static_cast<std::size_t>(formats == 1 ? 0 : i)));
    };
    const int count = int16(at);
    at += 2;
    std::string out = "[";
    for (int i = 0; i < count; ++i) {
        if (bind_parameters.size() < at + 4) return "null";
        const auto length = static_cast<std::int32_t>(wire::load_int32(bind_parameters.data() + at));
        at += 4;
        if (i > 0) out += ",";
        if (length < 0) {
            out += "null";
            continue;
        }
        if (bind_parameters.size() < at + static_cast<std::size_t>(length)) return "null";
        const auto value = bind_parameters.substr(at, static_cast<std::size_t>(length));
        at += static_cast<std::size_t>(length);
        if (format_of(i) == 0) {
            log::append_json_string(out, value);
        } else {
            log::append_json_string(out, "\\x" + to_hex(value));
        }
    }
    return out + "]";
}

std::string_view to_string(ticket_state s) {
    switch (s) {
        case ticket_state::pending: return "pending";
        case ticket_state::approved: return "approved";
        case ticket_state::rejected: return "rejected";
        case ticket_state::used: return "used";
        case ticket_state::voided: return "voided";
    }
    return "?";
}

std::optional<approval_ticket> approval_book::latest(const approval_binding& b) const {
    std::lock_guard lock(mutex_);
    const auto it = by_binding_.find(b);
    if (it == by_binding_.end()) return std::nullopt;
    return by_id_.at(it->second);
}

bool approval_book::full(sys_time now) {
    std::lock_guard lock(mutex_);
    prune(now);
    return by_id_.size() >= max_tickets;
}

approval_ticket approval_book::open(approval_binding b, std::string policy, std::string table, std::string command,
                                    std::uint64_t rows, std::chrono::milliseconds timeout, sys_time now) {
    std::lock_guard lock(mutex_);
    prune(now);
    approval_ticket t;
    do t.id = new_ticket_id();
    while (by_id_.contains(t.id));
    t.binding = std::move(b);
    t.policy = std::move(policy);
    t.table = std::move(table);
    t.command = std::move(command);
    t.rows = rows;
    t.created = now;
    t.timeout = timeout;
    t.expires = now + timeout;
    remember(t);
    return t;
}

void approval_book::remember(approval_ticket t) {
    // A newer ticket for the same statement replaces a lapsed one.
    if (const auto it = by_binding_.find(t.binding);
        it == by_binding_.end() || by_id_.at(it->second).created <= t.created)
        by_binding_[t.binding] = t.id;
    auto id = t.id;
    by_id_[std::move(id)] = std::move(t);
}

approval_book::imported approval_book::import(approval_ticket t, sys_time now) {
    std::lock_guard lock(mutex_);
    prune(now);
    const auto it = by_id_.find(t.id);
    if (it == by_id_.end()) {
        remember(std::move(t));
        return imported::added;
    }
    if (it->second.binding == t.binding) return imported::known;
    // Two replicas drew the same id (or one lies): a decision in the store
    // could not tell them apart, so neither is used here.
    it->second.state = ticket_state::voided;
    it->second.reason = "another replica opened a ticket with the same id";
    return imported::conflict;
}

void approval_book::mark_used(const std::string& id) {
    std::lock_guard lock(mutex_);
    if (const auto it = by_id_.find(id); it != by_id_.end()) it->second.state = ticket_state::used;
}

bool approval_book::decide(const std::string& id, bool approved, std::string reason, std::string by, sys_time now) {
    std::lock_guard lock(mutex_);
    const auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.state != ticket_state::pending || now >= it->second.expires) return false;
    auto& t = it->second;
    t.state = approved ? ticket_state::approved : ticket_state::rejected;
    t.reason = std::move(reason);
    t.decided_by = std::move(by);
    // Once approved, the statement must run again within the timeout.
    t.expires = now + t.timeout;
    return true;
}

bool approval_book::use(const std::string& id) {
    std::lock_guard lock(mutex_);
    const auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.state != ticket_state::approved) return false;
    it->second.state = ticket_state::used;
    return true;
}

void approval_book::void_ticket(const std::string& id, std::string why) {
    std::lock_guard lock(mutex_);
    if (const auto it = by_id_.find(id); it != by_id_.end()) {
        it->second.state = ticket_state::voided;
        it->second.reason = std::move(why);
    }
}

std::optional<approval_ticket> approval_book::ticket(const std::string& id) const {
    std::lock_guard lock(mutex_);
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) return std::nullopt;
    return it->second;
}

void approval_book::prune(sys_time now) {
    // A walk of every ticket: at most once a second, unless the book is full.
    if (by_id_.size() < max_tickets && now < last_prune_ + std::chrono::seconds(1)) return;
    last_prune_ = now;
    // A ticket is kept a day past its expiry, so a late re-run is told why.
    for (auto it = by_id_.begin(); it != by_id_.end();) {
        if (now >= it->second.expires + std::chrono::hours(24) || (by_id_.size() >= max_tickets && !live(it->second, now))) {
            if (const auto b = by_binding_.find(it->second.binding); b != by_binding_.end() && b->second == it->first)
                by_binding_.erase(b);
            it = by_id_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace pgsieve::session
