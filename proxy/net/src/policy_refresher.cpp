#include "policy_refresher.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace pgsieve::net {

namespace {

// A statement naming an unknown relation triggers at most one refresh per interval.
constexpr auto min_refresh_interval = std::chrono::seconds(2);
// How often a watched configuration file is read again.
constexpr auto watch_interval = std::chrono::seconds(2);

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return text.str();
}
}  // namespace

policy_refresher::policy_refresher(std::string config_path, session::policy_source& policies, audit::sink* audit,
                                   bool watch)
    : config_path_(std::move(config_path)), policies_(policies), audit_(audit), watch_(watch) {
    if (watch_) watched_text_ = read_text(config_path_);
}

bool policy_refresher::config_changed() {
    // Unreadable for a moment (a ConfigMap's symlink being swapped): no change yet.
    auto text = read_text(config_path_);
    if (!text || text == watched_text_) return false;
    watched_text_ = std::move(text);
    return true;
}

policy_refresher::~policy_refresher() { stop(); }

std::optional<std::string> policy_refresher::start() {
    refresh_catalog();  // before serving, so the first statements can be decided
    const auto snapshot = policies_.current();
    if (snapshot && snapshot->upstream.stops()) {
        std::string why = "the upstream roles are not a second wall:\n";
        for (const auto& f : snapshot->upstream.findings) {
            if (f.level == policy::finding_level::stop) why += fmt::format("  {}\n    fix: {}\n", f.message, f.fix);
        }
        return why + "not serving (pgsieve check-config --upstream prints the whole report)";
    }
    thread_ = std::thread([this] { run(); });
    return std::nullopt;
}

void policy_refresher::request_refresh() {
    {
        std::lock_guard lock(mutex_);
        refresh_wanted_ = true;
    }
    wake_.notify_one();
}

void policy_refresher::request_reload() {
    {
        std::lock_guard lock(mutex_);
        reload_wanted_ = true;
    }
    wake_.notify_one();
}

void policy_refresher::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void policy_refresher::run() {
    using clock = std::chrono::steady_clock;
    auto last_refresh = clock::now();
    auto next_watch = last_refresh + watch_interval;
    std::unique_lock lock(mutex_);
    for (;;) {
        const auto snapshot = policies_.current();
        const auto interval = snapshot && snapshot->cfg ? snapshot->cfg->upstream.catalog_refresh : std::chrono::seconds(60);
        // Without a catalog (upstream was down), retry sooner.
        const auto next_refresh =
            last_refresh + (snapshot && snapshot->catalog ? std::chrono::duration_cast<clock::duration>(interval)
                                                          : std::chrono::duration_cast<clock::duration>(std::chrono::seconds(5)));
        wake_.wait_until(lock, watch_ ? std::min(next_refresh, next_watch) : next_refresh,
                         [&] { return stopping_ || reload_wanted_ || refresh_wanted_; });
        if (stopping_) return;
        bool reload = std::exchange(reload_wanted_, false);
        bool refresh = std::exchange(refresh_wanted_, false);
        const auto now = clock::now();
        if (watch_ && now >= next_watch) {
            next_watch = now + watch_interval;
            lock.unlock();
            if (config_changed()) {
                log::info("reload_requested", {{"file", config_path_}, {"why", "its content changed"}});
                reload = true;
            }
            lock.lock();
        }
        if (!reload && !refresh && now < next_refresh) continue;  // a watch that found no change
        if (refresh && !reload && now - last_refresh < min_refresh_interval) {
            // Too soon: come back when the interval has passed.
            refresh_wanted_ = true;
            wake_.wait_for(lock, min_refresh_interval - (now - last_refresh), [&] { return stopping_; });
            continue;
        }
        lock.unlock();
        if (reload) reload_config();
        refresh_catalog();
        last_refresh = clock::now();
        lock.lock();
    }
}

void policy_refresher::refresh_catalog() {
    const auto snapshot = policies_.current();
    if (!snapshot || !snapshot->cfg) return;
    const auto started = std::chrono::steady_clock::now();
    auto rows = load_catalog_rows(*snapshot->cfg);
    if (!rows) {
        log::error("catalog_load_failed", {{"error", rows.error()}});
        return;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (snapshot->catalog && last_rows_ == *rows) {
        // Nothing changed upstream: the snapshot, its generation and every
        // session's cached decisions stay as they are.
        log::info("catalog_unchanged", {{"ms", ms.count()}});
        return;
    }
    auto catalog = policy::catalog_from_rows(*rows);
    last_rows_ = std::move(*rows);
    log::info("catalog_loaded", {{"relations", catalog->relation_count()},
                                 {"functions", catalog->function_count()},
                                 {"ms", ms.count()}});
    policies_.update(nullptr, std::move(catalog));
    log_upstream_findings(policies_.current()->upstream);
}

void policy_refresher::log_upstream_findings(const policy::upstream_report& report) {
    auto summary = report.summary();
    if (summary == last_findings_) return;  // once per change, not every refresh
    last_findings_ = std::move(summary);
    for (const auto& f : report.findings) {
        // After start a stop finding refuses the clients of the role's policies.
        const auto level = f.level == policy::finding_level::warning ? log::level::warning : log::level::error;
        const auto event = f.level == policy::finding_level::stop             ? "upstream_role_refused"
                           : f.level == policy::finding_level::refuse_clients ? "upstream_policy_refused"
                                                                              : "upstream_role_warning";
        log::write(level, event,
                   {{"role", f.role},
                    {"policies", fmt::format("{}", fmt::join(f.policies, ","))},
                    {"object", f.object},
                    {"message", f.message},
                    {"fix", f.fix}});
    }
}

void policy_refresher::reload_config() {
    auto loaded = config::load_file(config_path_);
    if (!loaded) {
        std::string errors;
        for (const auto& e : loaded.error()) {
            log::error("reload_rejected", {{"error", e.str()}});
            errors += e.str() + "\n";
        }
        log::error("reload_failed", {{"file", config_path_}, {"message", "the previous configuration stays in force"}});
        if (audit_)
            audit_->submit(audit::event{std::chrono::system_clock::now(), 0, "policy_reload_failed",
                                        audit::detail_json({{"file", config_path_}, {"errors", errors}})});
        return;
    }
    const auto old = policies_.current();
    const auto& next = **loaded;
    if (old && old->cfg) {
        // Sockets, TLS contexts, the upstream endpoint and the audit file
        // are set up at start: a file that changes them is refused whole,
        // never half-applied.
        const auto changed = config::restart_only_changes(*old->cfg, next);
        if (!changed.empty()) {
            const auto keys = fmt::format("{}", fmt::join(changed, ", "));
            log::error("reload_refused", {{"file", config_path_},
                                          {"keys", keys},
                                          {"message", "these settings change only on restart; the previous "
                                                      "configuration stays in force"}});
            if (audit_)
                audit_->submit(audit::event{std::chrono::system_clock::now(), 0, "policy_reload_refused",
                                            audit::detail_json({{"file", config_path_}, {"restart_only", keys}})});
            return;
        }
    }
    for (const auto& w : next.warnings)
        log::warn("config_warning", {{"file", next.source_path}, {"line", w.line}, {"key", w.key}, {"message", w.message}});
    policies_.update(*loaded, nullptr);
    if (audit_) {
        const auto now = std::chrono::system_clock::now();
        audit_->submit(audit::policy_version{next.version, now, next.source_text});
        audit_->submit(audit::event{now, 0, "policy_reload",
                                    audit::detail_json({{"file", config_path_},
                                                        {"previous_version", old && old->cfg ? old->cfg->version : ""},
                                                        {"version", next.version}})});
    }
    log::info("reloaded", {{"file", config_path_}, {"clients", next.clients.size()}, {"policies", next.policies.size()}});
}

}  // namespace pgsieve::net
