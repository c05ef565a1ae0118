#pragma once
// Process-wide counters for the admin endpoint's /metrics, in Prometheus'
// text format (DESIGN.md §5): statements by policy and verdict, decision
// and upstream latency histograms, refused logins. Updated by sessions on
// their own threads; every member is thread-safe.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>
#include <string_view>
#include <utility>

namespace pgsieve::session {

class histogram {
public:
    // Upper bounds in seconds, ascending; one more bucket counts everything (+Inf).
    static constexpr std::array<double, 12> bounds{0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                                    0.0005,   0.001,   0.005,    0.025,   0.1,    1.0};
    void observe(std::chrono::nanoseconds d);
    void render(std::string& out, std::string_view name, std::string_view help) const;

private:
    std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};  // not cumulative
    std::atomic<std::uint64_t> sum_ns_{0};
    std::atomic<std::uint64_t> count_{0};
};

// One audit export destination's state (net::audit_exporter's).
struct export_gauge {
    std::string destination;
    std::uint64_t shipped = 0;
    std::uint64_t failures = 0;
    std::uint64_t quarantined = 0;
    double lag_seconds = 0;  // age of the oldest record waiting; 0 when caught up
    bool stalled = false;
};

// Values the driver reads when it renders (they live elsewhere).
struct gauges {
    std::int64_t connections = 0;
    std::uint64_t audit_queued = 0;
    std::uint64_t audit_written = 0;
    std::uint64_t audit_dropped = 0;
    std::uint64_t audit_write_failures = 0;
    bool audit_writable = true;
    bool catalog_loaded = false;
    std::vector<export_gauge> exports;
};

class metrics {
public:
    histogram decision;  // parse + analyse + decide, cache hits included
    histogram upstream;  // a statement's time from forwarding to its completion
    std::atomic<std::uint64_t> auth_failures{0};
    std::atomic<std::uint64_t> startups_refused{0};

    // A policy's statements by verdict (verdict_index): the same counters
    // for the life of the process, so a session looks them up once and then
    // counts without a lock.
    using statement_counts = std::array<std::atomic<std::uint64_t>, 3>;
    statement_counts& statements_of(std::string_view policy);
    // verdict: "allowed", "blocked" or "would_block".
    static std::size_t verdict_index(std::string_view verdict);
    void count_statement(std::string_view policy, std::string_view verdict) {
        statements_of(policy)[verdict_index(verdict)].fetch_add(1, std::memory_order_relaxed);
    }
    std::string render(const gauges& g) const;

private:
    mutable std::mutex mutex_;  // guards the map's shape, not the counts
    // By policy (found without allocating), then by verdict.
    std::map<std::string, statement_counts, std::less<>> statements_;
};

}  // namespace pgsieve::session
