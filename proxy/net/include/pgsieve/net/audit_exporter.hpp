#pragma once
// Ships the audit log off the machine (audit.export): a thread of its own
// per destination tails the SQLite file by id, sends each batch — an
// OTLP/HTTP logs request, or rows into a central PostgreSQL store — and
// advances the cursor stored in the file only once the destination took it.
// A destination that is down is retried with back-off (1 s doubling to
// 30 s); a record it refuses for its size or content is quarantined (an
// event in the file names it and the error, the stream goes on). Nothing on
// this path ever waits for a statement or makes one wait.

#include <pgsieve/audit/export.hpp>
#include <pgsieve/config/config.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace pgsieve::net {

struct export_stats {
    std::atomic<std::uint64_t> shipped{0};  // records acknowledged
    std::atomic<std::uint64_t> failures{0};  // requests that failed (retried)
    std::atomic<std::uint64_t> quarantined{0};  // records the destination refused alone (still in the file)
    // When the oldest record waiting at the last pass was written (Unix ns;
    // 0: nothing waited): the export's lag is now minus this.
    std::atomic<std::uint64_t> oldest_waiting_unix_ns{0};
    // The cursor has not moved for stalled_after while records wait.
    std::atomic<bool> stalled{false};
};

class audit_exporter {
public:
    // Why a batch was not delivered (the cursor then stays).
    struct send_failure {
        enum class kind {
            unavailable,  // down, unreachable, or refusing us: retry the same request later
            too_large,    // the request's size (HTTP 413): send fewer records
            refused,      // something in the records (HTTP 400, SQLSTATE 22/23): find the record, quarantine it
        };
        std::string message;
        kind why = kind::unavailable;
    };
    // Delivers one batch of one table's records.
    using sender = std::function<expected<void, send_failure>(std::span<const audit::shipped_record>)>;

    static std::unique_ptr<audit_exporter> otlp(std::string audit_path, const config::http_endpoint& to,
                                                std::string instance_id);
    static std::unique_ptr<audit_exporter> central_store(std::string audit_path, const config::upstream_settings& to,
                                                         std::string instance_id);
    // A destination's name: its cursor in the audit file, and its log lines.
    static std::string name_of(const config::http_endpoint& to);
    static std::string name_of(const config::upstream_settings& to);
    // Every destination the configuration ships to (what retention waits for).
    static std::vector<std::string> destinations(const config::audit_settings& audit);
    // Before the first batch: whether the file may be shipped there at all
    // (export_reader::continues); retried with back-off until it may.
    using precheck = std::function<expected<void, std::string>(audit::export_reader&)>;
    // `destination` names the cursor and the log lines.
    audit_exporter(std::string audit_path, std::string destination, sender send, precheck check = {});
    ~audit_exporter();  // stop()
    audit_exporter(const audit_exporter&) = delete;
    audit_exporter& operator=(const audit_exporter&) = delete;

    // How long the cursor may stay put while records wait before the export
    // counts as stalled (audit.export.stalled_after). Before start().
    void stall_after(std::chrono::milliseconds d) { stalled_after_ = d; }
    void start();
    // Ends the thread after at most one more attempt (bounded by its timeout);
    // what is not shipped goes at the next start.
    void stop();
    const export_stats& stats() const { return stats_; }
    const std::string& destination() const { return destination_; }

private:
    void run();
    expected<std::size_t, std::string> ship_once(audit::export_reader& reader);
    bool wait(std::chrono::milliseconds d);  // false once stopping
    // After a failed attempt: whether the export has now stalled, said once.
    void check_stalled(audit::export_reader* reader, std::chrono::steady_clock::time_point last_progress,
                       const std::string& error);

    std::string audit_path_;
    std::string destination_;
    sender send_;
    precheck check_;
    std::chrono::milliseconds stalled_after_ = std::chrono::minutes(5);
    export_stats stats_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

// This replica's name among its peers: cluster.instance_id, else the host name.
std::string instance_id(const config::config& cfg);

}  // namespace pgsieve::net
