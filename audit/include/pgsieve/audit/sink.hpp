#pragma once
// The audit sink: sessions submit records to a bounded queue; one thread
// writes them to SQLite (WAL) in batched transactions, so a statement never
// waits on disk. close() drains the queue: nothing submitted is lost.

#include <pgsieve/audit/records.hpp>
#include <pgsieve/common/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pgsieve::audit {

struct sink_options {
    std::string path;
    bool normalize_sql = false;  // store_sql: normalized
    bool drop_on_overflow = false;  // on_overflow: drop (default: wait)
    std::chrono::milliseconds flush_interval{50};
    std::size_t capacity = 65536;  // queued records
    // Retention: statements and events older than this, and acknowledged by
    // every destination in `shipped_to` (export cursor names), are deleted
    // in batches between writes; the chain's anchor keeps it verifiable.
    std::optional<std::chrono::milliseconds> retention;
    std::vector<std::string> shipped_to;
    // Signed checkpoints of the chain head (checkpoint.hpp), when a key is set.
    std::optional<std::string> checkpoint_key;
    std::chrono::milliseconds checkpoint_interval{60000};
    std::string instance_id;
};

struct sink_stats {
    std::uint64_t written = 0;  // records committed
    std::uint64_t dropped = 0;  // records dropped (full queue, or unwritable file)
    std::uint64_t failed_writes = 0;
    std::size_t queued = 0;
};

class writer;

class sink {
public:
    // Opens (creating or migrating) the database; an error names the file
    // and what is wrong. The writing thread starts at once.
    [[nodiscard]] static expected<std::unique_ptr<sink>, std::string> open(sink_options options);
    ~sink();  // close()
    sink(const sink&) = delete;
    sink& operator=(const sink&) = delete;

    // Thread-safe. With a full queue: waits for room, or drops and counts
    // (drop_on_overflow, or while the file cannot be written).
    void submit(record r);
    // The same for several records, taking the lock once (a session's records of one read).
    void submit(std::vector<record>&& records);
    // Never waits: takes all of `records` (emptying it) and returns true, or,
    // with on_overflow: wait and no room for them, takes none and returns
    // false — the caller waits (without holding its thread) and tries again.
    // Dropping applies as for submit().
    [[nodiscard]] bool try_submit(std::vector<record>& records);
    // A session id unique in this database, across restarts.
    std::uint64_t new_session_id() { return next_session_id_.fetch_add(1, std::memory_order_relaxed); }
    // False after a batch failed to commit, until one succeeds: with
    // on_failure: block, sessions refuse statements meanwhile.
    bool writable() const { return writable_.load(std::memory_order_relaxed); }
    // Writes everything queued, then stops the thread. Idempotent.
    void close();
    sink_stats stats() const;

private:
    explicit sink(sink_options options);
    void run();
    void enqueue(std::unique_lock<std::mutex>& lock, record&& r);

    sink_options options_;
    std::unique_ptr<writer> writer_;
    std::atomic<std::uint64_t> next_session_id_{1};
    std::atomic<bool> writable_{true};
    std::atomic<std::uint64_t> written_{0}, dropped_{0}, failed_writes_{0};

    mutable std::mutex mutex_;
    std::condition_variable has_work_, has_room_;
    std::deque<record> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pgsieve::audit
