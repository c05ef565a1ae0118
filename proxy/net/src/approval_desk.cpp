#include "approval_desk.hpp"

#include "http_client.hpp"

#include <pgsieve/audit/approvals.hpp>
#include <pgsieve/common/hmac.hpp>
#include <pgsieve/common/log.hpp>

#include <fmt/format.h>

namespace pgsieve::net {

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(500);
constexpr auto webhook_timeout = std::chrono::seconds(5);

}  // namespace

approval_desk::approval_desk(std::string audit_path, session::approval_book& book, audit::sink* audit,
                             bool read_file_decisions)
    : audit_path_(std::move(audit_path)), book_(book), audit_(audit), read_file_decisions_(read_file_decisions) {}

approval_desk::~approval_desk() { stop(); }

void approval_desk::start() {
    // Decisions already in the file are for tickets of an earlier process: not this one's.
    if (auto reader = audit::approval_decisions::open(audit_path_)) {
        if (auto old = reader->since(0); old && !old->empty()) last_decision_ = old->back().id;
    }
    thread_ = std::thread([this] { run(); });
}

void approval_desk::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void approval_desk::notify(const config::approval_rule& rule, std::string body) {
    if (!rule.webhook) return;
    {
        std::lock_guard lock(mutex_);
        if (calls_.size() >= max_queued) {
            log::error("approval_webhook_dropped", {{"endpoint", rule.webhook->endpoint}, {"queued", calls_.size()}});
            return;
        }
        calls_.push_back(call{*rule.webhook, rule.webhook_secret, std::move(body)});
    }
    wake_.notify_one();
}

void approval_desk::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait_for(lock, poll_interval, [&] { return stopping_ || !calls_.empty(); });
        if (stopping_) return;
        std::deque<call> calls;
        std::swap(calls, calls_);
        lock.unlock();
        for (const auto& c : calls) send(c);
        if (read_file_decisions_) apply_decisions();
        lock.lock();
    }
}

void approval_desk::apply_decisions() {
    if (!reader_) {
        auto opened = audit::approval_decisions::open(audit_path_);
        if (!opened) return;  // the sink creates the file; it may not be there for a moment
        reader_.emplace(std::move(*opened));
    }
    auto decisions = reader_->since(last_decision_);
    if (!decisions) {
        log::warn("approval_decisions_unreadable", {{"file", audit_path_}, {"error", decisions.error()}});
        reader_.reset();  // opened again next time
        return;
    }
    const auto now = std::chrono::system_clock::now();
    for (auto& d : *decisions) {
        last_decision_ = d.id;
        if (!book_.decide(d.ticket, d.approved, d.reason, d.decided_by, now)) {
            log::warn("approval_decision_ignored",
                      {{"ticket", d.ticket}, {"why", "no pending ticket of this replica has that id (expired, or "
                                                     "opened before pgsieve restarted)"}});
            continue;
        }
        const auto detail = fmt::format(R"({{"ticket":{},"decision":{},"reason":{},"decided_by":{}}})",
                                        log::json_string(d.ticket), log::json_string(d.approved ? "approved" : "rejected"),
                                        log::json_string(d.reason), log::json_string(d.decided_by));
        log::info("approval_decided", {{"ticket", d.ticket}, {"decision", d.approved ? "approved" : "rejected"},
                                       {"decided_by", d.decided_by}});
        if (audit_) audit_->submit(audit::event{now, 0, "approval_decided", detail});
    }
}

void approval_desk::send(const call& c) {
    http_client client(c.to);
    const auto status = client.post(c.body, webhook_timeout, "application/json",
                                     {{"X-Pgsieve-Signature", "sha256=" + hmac_sha256_hex(c.secret, c.body)}});
    if (!status) {
        log::error("approval_webhook_failed", {{"endpoint", c.to.endpoint}, {"error", status.error()}});
    } else if (*status < 200 || *status > 299) {
        log::error("approval_webhook_failed", {{"endpoint", c.to.endpoint}, {"status", *status}});
    } else {
        log::info("approval_webhook_sent", {{"endpoint", c.to.endpoint}, {"status", *status}});
    }
}

}  // namespace pgsieve::net
