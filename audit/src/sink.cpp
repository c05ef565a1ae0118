#include <pgsieve/audit/sink.hpp>

#include "writer.hpp"

#include <pgsieve/audit/checkpoint.hpp>

#include <pgsieve/common/log.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::audit {

namespace {
// One transaction holds at most this many records, so a backlog after an
// outage is written in steps that each commit.
constexpr std::size_t max_batch = 16384;
// While closing, a batch that cannot be written is retried this often
// before it is given up (and counted as dropped).
constexpr int close_attempts = 20;
}  // namespace

expected<std::unique_ptr<sink>, std::string> sink::open(sink_options options) {
    auto w = writer::open(options.path);
    if (!w) return unexpected(w.error());
    std::unique_ptr<sink> s(new sink(std::move(options)));
    s->next_session_id_ = (*w)->max_session_id() + 1;
    s->writer_ = std::move(*w);
    s->thread_ = std::thread([p = s.get()] { p->run(); });
    return s;
}

sink::sink(sink_options options) : options_(std::move(options)) {}

sink::~sink() { close(); }

void sink::submit(record r) {
    std::unique_lock lock(mutex_);
    enqueue(lock, std::move(r));
}

void sink::submit(std::vector<record>&& records) {
    if (records.empty()) return;
    std::unique_lock lock(mutex_);
    for (auto& r : records) enqueue(lock, std::move(r));
    records.clear();
}

bool sink::try_submit(std::vector<record>& records) {
    if (records.empty()) return true;
    std::lock_guard lock(mutex_);
    // An empty queue takes a batch larger than its capacity rather than never taking it.
    const bool fits = queue_.empty() || queue_.size() + records.size() <= options_.capacity;
    // Where submit() would drop rather than wait, so does this.
    const bool drops = stopping_ || options_.drop_on_overflow || !writable();
    if (!fits && !drops) return false;
    for (auto& r : records) {
        if (stopping_ || (!fits && queue_.size() >= options_.capacity)) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        queue_.push_back(std::move(r));
    }
    records.clear();
    if (queue_.size() >= options_.capacity / 2) has_work_.notify_one();
    return true;
}

void sink::enqueue(std::unique_lock<std::mutex>& lock, record&& r) {
    while (queue_.size() >= options_.capacity || stopping_) {
        // Waiting for an unwritable file would stall every session; waiting
        // after close() would never end.
        if (stopping_ || options_.drop_on_overflow || !writable()) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        has_room_.wait(lock);
    }
    queue_.push_back(std::move(r));
    if (queue_.size() == options_.capacity / 2) has_work_.notify_one();
}

void sink::close() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
    }
    has_work_.notify_one();
    has_room_.notify_all();
    if (thread_.joinable()) thread_.join();
}

sink_stats sink::stats() const {
    sink_stats s;
    s.written = written_.load();
    s.dropped = dropped_.load();
    s.failed_writes = failed_writes_.load();
    std::lock_guard lock(mutex_);
    s.queued = queue_.size();
    return s;
}

void sink::run() {
    std::vector<pending> batch;  // kept across failed attempts
    std::uint64_t dropped_reported = 0;
    int failures_while_closing = 0;
    // Retention runs between writes, a tenth of the retention apart (at
    // most a minute), a bounded batch at a time.
    const auto retention_every =
        options_.retention ? std::clamp(*options_.retention / 10, std::chrono::milliseconds(100),
                                        std::chrono::milliseconds(60000))
                           : std::chrono::milliseconds(60000);
    auto next_retention = std::chrono::steady_clock::now() + retention_every;
    auto next_checkpoint = std::chrono::steady_clock::now() + options_.checkpoint_interval;
    std::int64_t signed_up_to = writer_->last_id();
    // Signs the chain's head when it moved: one event, written on its own.
    const auto checkpoint = [&] {
        if (!options_.checkpoint_key || writer_->last_id() == signed_up_to) return;
        std::vector<pending> signed_head{pending{event{
            std::chrono::system_clock::now(), 0, std::string(checkpoint_event),
            checkpoint_detail(*options_.checkpoint_key, options_.instance_id, writer_->last_id(), writer_->last_hash())}}};
        const auto head = writer_->last_id();
        if (auto r = writer_->write(signed_head, false); r) {
            signed_up_to = head;
            written_.fetch_add(1, std::memory_order_relaxed);
        }
    };
    for (;;) {
        bool closing = false;
        {
            std::unique_lock lock(mutex_);
            if (batch.empty()) {
                has_work_.wait_for(lock, options_.flush_interval,
                                   [&] { return stopping_ || queue_.size() >= options_.capacity / 2; });
            } else {
                // The last attempt failed: retry after a pause, with what is queued.
                has_work_.wait_for(lock, options_.flush_interval, [&] { return stopping_; });
            }
            closing = stopping_;
            while (!queue_.empty() && batch.size() < max_batch) {
                batch.push_back(pending{std::move(queue_.front())});
                queue_.pop_front();
            }
            if (batch.empty() && closing) {
                lock.unlock();
                checkpoint();  // the head at shutdown, signed
                break;
            }
        }
        has_room_.notify_all();
        const auto dropped = dropped_.load();
        if (dropped > dropped_reported) {
            batch.push_back(pending{event{std::chrono::system_clock::now(), 0, "audit_dropped",
                                          fmt::format(R"({{"dropped":{},"total":{}}})", dropped - dropped_reported,
                                                      dropped)}});
            dropped_reported = dropped;
        }
        if (batch.empty() && options_.retention && std::chrono::steady_clock::now() >= next_retention) {
            next_retention = std::chrono::steady_clock::now() + retention_every;
            const auto deleted =
                writer_->retain(std::chrono::system_clock::now() - *options_.retention, options_.shipped_to, 10000);
            if (!deleted)
                log::warn("audit_retention_failed", {{"file", options_.path}, {"error", deleted.error()}});
            else if (*deleted > 0)
                log::info("audit_retention", {{"file", options_.path}, {"deleted", *deleted}});
            if (deleted && *deleted >= 10000) next_retention = std::chrono::steady_clock::now();  // more to go
        }
        if (options_.checkpoint_key && std::chrono::steady_clock::now() >= next_checkpoint) {
            next_checkpoint = std::chrono::steady_clock::now() + options_.checkpoint_interval;
            checkpoint();
        }
        if (batch.empty()) continue;
        const auto result = writer_->write(batch, options_.normalize_sql);
        if (result) {
            written_.fetch_add(batch.size(), std::memory_order_relaxed);
            batch.clear();
            if (!writable_.exchange(true)) log::info("audit_writable", {{"file", options_.path}});
            continue;
        }
        failed_writes_.fetch_add(1, std::memory_order_relaxed);
        if (writable_.exchange(false)) {
            log::error("audit_write_failed", {{"file", options_.path}, {"error", result.error()},
                                              {"records", batch.size()}});
            has_room_.notify_all();  // waiting submitters now drop instead
        }
        if (closing && ++failures_while_closing >= close_attempts) {
            dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
            log::error("audit_lost_at_exit", {{"file", options_.path}, {"records", batch.size()},
                                              {"error", result.error()}});
            batch.clear();
            std::lock_guard lock(mutex_);
            dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
            queue_.clear();
            break;
        }
    }
}

}  // namespace pgsieve::audit
