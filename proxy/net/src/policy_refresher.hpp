#pragma once
// Keeps the sessions' policy snapshot current: reads the upstream catalog
// at start, every catalog_refresh, and soon after a statement names
// something the snapshot lacks (at most every few seconds); reloads the
// configuration file on request (SIGHUP) or, when watching, once its content
// changes, keeping the old one if the new one is invalid. Runs on its own
// thread so no session waits on it.

#include <pgsieve/audit/sink.hpp>
#include <pgsieve/session/policy_snapshot.hpp>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace pgsieve::net {

class policy_refresher {
public:
    // `audit` (may be null) records each configuration in force and each reload.
    // `watch`: also reload when the file's content changes (a ConfigMap is
    // updated by swapping a symlink; an editor may write in place: an
    // invalid intermediate state is refused and the next one tried).
    policy_refresher(std::string config_path, session::policy_source& policies, audit::sink* audit,
                     bool watch = false);
    ~policy_refresher();

    // Reads the first catalog, then refreshes on its own thread. Returns why
    // `serve` must not start: the upstream roles are not a wall
    // (policy::check_upstream's stop findings).
    [[nodiscard]] std::optional<std::string> start();
    void request_refresh();  // thread-safe; rate-limited
    void request_reload();   // thread-safe
    void stop();

private:
    void run();
    void refresh_catalog();
    void reload_config();
    // Watching: whether the file's content differs from when it was last read.
    bool config_changed();
    // Logs the upstream check's findings when they differ from the last ones.
    void log_upstream_findings(const policy::upstream_report& report);

    std::string config_path_;
    session::policy_source& policies_;
    audit::sink* audit_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool refresh_wanted_ = false;
    bool reload_wanted_ = false;
    bool stopping_ = false;
    std::thread thread_;
    bool watch_;
    std::optional<std::string> watched_text_;  // the file as last read by config_changed()
    std::string last_findings_;  // only the refresher thread touches it (and start(), before it runs)
    // The rows the installed catalog was made from: a refresh that reads the
    // same rows installs nothing (the same thread only).
    policy::catalog_rows last_rows_;
};

}  // namespace pgsieve::net
