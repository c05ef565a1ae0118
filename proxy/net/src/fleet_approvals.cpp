#include "fleet_approvals.hpp"

#include <pgsieve/audit/approvals.hpp>
#include <pgsieve/common/hex.hpp>
#include <pgsieve/common/log.hpp>

#include <fmt/format.h>

#include <charconv>

namespace pgsieve::net {

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(500);
constexpr auto store_timeout = std::chrono::seconds(5);
// How long a gap in the store's sequence is waited for (see cursor_).
constexpr auto gap_patience = std::chrono::seconds(5);

using column = audit::store_approval_column;

std::optional<std::int64_t> number(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc() || end != text->data() + text->size()) return std::nullopt;
    return n;
}

sys_time from_unix_ms(std::int64_t ms) { return sys_time(std::chrono::milliseconds(ms)); }

}  // namespace

fleet_approvals::fleet_approvals(const config::upstream_settings& store, std::string instance,
                                 session::approval_book& book, audit::sink* audit)
    : store_(store, store.user, store.password, "pgsieve approvals"),
      instance_(std::move(instance)),
      book_(book),
      audit_(audit) {}

fleet_approvals::~fleet_approvals() { stop(); }

void fleet_approvals::start() { thread_ = std::thread([this] { run(); }); }

void fleet_approvals::stop() {
    std::deque<pending_claim> unanswered;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        std::swap(unanswered, claims_);
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
    for (auto& c : unanswered) c.done(std::string("pgsieve is stopping"));
}

void fleet_approvals::publish(std::string ticket, std::string detail) {
    {
        std::lock_guard lock(mutex_);
        if (publishes_.size() >= max_queued) {
            // The ticket stays this replica's: a re-run through another opens a new one.
            log::error("approval_publish_dropped", {{"ticket", ticket}, {"queued", publishes_.size()}});
            return;
        }
        publishes_.emplace_back(std::move(ticket), std::move(detail));
    }
    wake_.notify_one();
}

awaitable<std::optional<std::string>> fleet_approvals::claim(session::approval_claim c,
                                                             std::shared_ptr<asio::steady_timer>& waiting) {
    auto executor = co_await asio::this_coro::executor;
    // Shared with the store thread: the answer may come after this frame is gone.
    struct outcome {
        outcome(asio::any_io_executor e, std::chrono::steady_clock::duration limit) : timer(e, limit) {}
        asio::steady_timer timer;
        std::optional<std::optional<std::string>> answer;
    };
    auto shared = std::make_shared<outcome>(executor, claim_timeout);
    waiting = std::shared_ptr<asio::steady_timer>(shared, &shared->timer);
    auto done = [shared, executor](std::optional<std::string> refused) {
        asio::post(executor, [shared, refused = std::move(refused)]() mutable {
            shared->answer = std::move(refused);
            shared->timer.cancel();
        });
    };
    bool queued = false;
    {
        std::lock_guard lock(mutex_);
        if (!stopping_ && claims_.size() < max_queued) {
            claims_.push_back({std::move(c), std::move(done)});
            queued = true;
        }
    }
    if (!queued) co_return std::string("pgsieve has too many approvals to claim at once; send it again");
    wake_.notify_one();
    co_await shared->timer.async_wait(use_tuple);
    waiting.reset();
    // Past the deadline the claim may still be taken in the store: the
    // ticket is then spent without its write — never run twice.
    if (!shared->answer)
        co_return fmt::format("the central audit store did not answer within {}s", claim_timeout.count());
    co_return std::move(*shared->answer);
}

void fleet_approvals::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait_for(lock, poll_interval, [&] { return stopping_ || !claims_.empty() || !publishes_.empty(); });
        if (stopping_) return;
        // Tickets the store could not take last time first, then new ones.
        auto publishes = std::exchange(retry_, {});
        for (auto& p : publishes_) publishes.push_back(std::move(p));
        publishes_.clear();
        auto claims = std::exchange(claims_, {});
        lock.unlock();
        // Claims first: a session's write waits on each.
        for (auto& c : claims) {
            const auto r = store_.query({audit::store_claim_approval_sql(c.what.ticket, c.what.rows)}, store_timeout);
            std::optional<std::string> refused;
            if (!r) refused = "the central audit store could not be asked (" + r.error().message + ")";
            else if (r->empty() || (*r)[0].empty() || (*r)[0][0].empty()) refused = "the central audit store gave no answer";
            else refused = (*r)[0][0][0];  // NULL: taken
            log::info("approval_claim", {{"ticket", c.what.ticket}, {"rows", c.what.rows},
                                         {"outcome", refused ? *refused : std::string("taken")}});
            if (!refused) book_.mark_used(c.what.ticket);
            c.done(std::move(refused));
        }
        // Then tickets (an approved ticket, which a claim is for, was published long ago).
        bool store_down = false;
        for (auto& p : publishes) {
            const auto t = book_.ticket(p.first);
            const bool pending = t && t->state == session::ticket_state::pending &&
                                 std::chrono::system_clock::now() < t->expires;
            if (store_down) {
                if (pending && retry_.size() < max_queued) retry_.push_back(std::move(p));
                continue;
            }
            const auto r = store_.query({audit::store_request_approval_sql(p.first, p.second)}, store_timeout);
            if (r) continue;
            log::error("approval_publish_failed", {{"ticket", p.first}, {"error", r.error().message}});
            // One the store refused (an id another replica took) stays this
            // replica's alone; the store down, the rest wait for the next
            // pass, tried again while pending.
            if (r.error().sqlstate.starts_with("23")) continue;
            store_down = true;
            if (pending && retry_.size() < max_queued) retry_.push_back(std::move(p));
        }
        if (!store_down) read_store();
        lock.lock();
    }
}

void fleet_approvals::read_store() {
    const auto rows = store_.query({audit::store_approvals_since_sql(cursor_)}, store_timeout);
    if (!rows) {
        // Once per cause, not every half second.
        if (rows.error().message != last_error_) log::warn("approvals_unreadable", {{"error", rows.error().message}});
        last_error_ = rows.error().message;
        return;
    }
    if (!last_error_.empty()) log::info("approvals_readable", {});
    last_error_.clear();
    for (const auto& row : (*rows)[0]) {
        const auto seq = number(row[static_cast<std::size_t>(column::seq)]);
        if (!seq || !seen_.insert(*seq).second) continue;
        apply(row);
    }
    while (!seen_.empty() && *seen_.begin() == cursor_ + 1) {
        seen_.erase(seen_.begin());
        ++cursor_;
    }
    if (seen_.empty()) {
        gap_since_.reset();
        return;
    }
    // A seq nobody committed (a claim or decision that inserted nothing) or
    // not yet: past a while, read on from the rows after it.
    const auto now = std::chrono::steady_clock::now();
    if (!gap_since_) gap_since_ = now;
    if (now - *gap_since_ < gap_patience) return;
    cursor_ = *seen_.begin() - 1;
    while (!seen_.empty() && *seen_.begin() == cursor_ + 1) {
        seen_.erase(seen_.begin());
        ++cursor_;
    }
    gap_since_.reset();
}

void fleet_approvals::apply(const std::vector<std::optional<std::string>>& row) {
    const auto at = [&](column c) -> const std::optional<std::string>& { return row[static_cast<std::size_t>(c)]; };
    const auto text = [&](column c) { return at(c).value_or(std::string()); };
    if (row.size() <= static_cast<std::size_t>(column::expires_ms)) return;
    const auto ticket = text(column::ticket);
    const auto kind = text(column::kind);
    const auto now = std::chrono::system_clock::now();
    if (kind == "requested") {
        const auto parameters = from_hex(text(column::bind_parameters));
        const auto rows = number(at(column::rows));
        const auto timeout = number(at(column::timeout_ms));
        const auto created = number(at(column::at_ms));
        const auto expires = number(at(column::expires_ms));
        if (!parameters || !rows || *rows < 0 || !timeout || !created || !expires) {
            log::warn("approval_ticket_unreadable", {{"ticket", ticket}, {"instance", text(column::instance)}});
            return;
        }
        session::approval_ticket t;
        t.id = ticket;
        t.binding = {text(column::client), text(column::grants_version), text(column::sql), *parameters};
        t.policy = text(column::policy);
        t.table = text(column::table);
        t.command = text(column::command);
        t.rows = static_cast<std::uint64_t>(*rows);
        t.created = from_unix_ms(*created);
        t.timeout = std::chrono::milliseconds(*timeout);
        t.expires = from_unix_ms(*expires);
        switch (book_.import(std::move(t), now)) {
            case session::approval_book::imported::added:
                log::info("approval_imported", {{"ticket", ticket}, {"instance", text(column::instance)}});
                break;
            case session::approval_book::imported::conflict:
                log::error("approval_ticket_conflict",
                           {{"ticket", ticket}, {"instance", text(column::instance)},
                            {"why", "a ticket of this id binds another statement here: it was voided"}});
                break;
            case session::approval_book::imported::known:
                break;
        }
    } else if (kind == "approved" || kind == "rejected") {
        const bool approved = kind == "approved";
        const auto by = text(column::decided_by);
        if (!book_.decide(ticket, approved, text(column::reason), by, now)) return;  // expired, or not a ticket we know
        log::info("approval_decided", {{"ticket", ticket}, {"decision", kind}, {"decided_by", by}});
        const auto detail = fmt::format(R"({{"ticket":{},"decision":{},"reason":{},"decided_by":{}}})",
                                        log::json_string(ticket), log::json_string(kind),
                                        log::json_string(text(column::reason)), log::json_string(by));
        if (audit_) audit_->submit(audit::event{now, 0, "approval_decided", detail});
    } else if (kind == "used") {
        book_.mark_used(ticket);
    }
}

}  // namespace pgsieve::net
