#include <pgsieve/session/metrics.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

// A label value in Prometheus' text format: backslash, quote and newline escaped.
std::string label(std::string_view v) {
    std::string out;
    for (const char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help, auto value) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

}  // namespace

void histogram::observe(std::chrono::nanoseconds d) {
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0), std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
}

void histogram::render(std::string& out, std::string_view name, std::string_view help) const {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += buckets_[i].load(std::memory_order_relaxed);
        fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, bounds[i], cumulative);
    }
    cumulative += buckets_[bounds.size()].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {:.9f}\n{}_count {}\n", name,
                   cumulative, name, static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9, name,
                   count_.load(std::memory_order_relaxed));
}

namespace {
constexpr std::array<std::string_view, 3> verdicts{"allowed", "blocked", "would_block"};
}  // namespace

std::size_t metrics::verdict_index(std::string_view verdict) {
    std::size_t v = 0;
    while (v + 1 < verdicts.size() && verdicts[v] != verdict) ++v;
    return v;
}

metrics::statement_counts& metrics::statements_of(std::string_view policy) {
    std::lock_guard lock(mutex_);
    auto it = statements_.find(policy);
    if (it == statements_.end()) it = statements_.try_emplace(std::string(policy)).first;
    return it->second;
}

std::string metrics::render(const gauges& g) const {
    std::string out;
    metric(out, "pgsieve_connections", "gauge", "Client connections open now.", g.connections);
    {
        std::lock_guard lock(mutex_);
        out += "# HELP pgsieve_statements_total Statements finished or refused, by policy and verdict.\n"
               "# TYPE pgsieve_statements_total counter\n";
        for (const auto& [policy, counts] : statements_) {
            for (std::size_t v = 0; v < verdicts.size(); ++v) {
                const auto n = counts[v].load(std::memory_order_relaxed);
                if (n == 0) continue;
                fmt::format_to(std::back_inserter(out),
                               "pgsieve_statements_total{{policy=\"{}\",verdict=\"{}\"}} {}\n", label(policy),
                               verdicts[v], n);
            }
        }
    }
    decision.render(out, "pgsieve_decision_seconds", "Time to parse, analyse and decide a statement.");
    upstream.render(out, "pgsieve_upstream_seconds", "Time from forwarding a statement to its completion.");
    metric(out, "pgsieve_auth_failures_total", "counter", "Failed client logins (wrong password or unknown user).",
           auth_failures.load());
    metric(out, "pgsieve_startups_refused_total", "counter", "Client startups refused for another reason.",
           startups_refused.load());
    metric(out, "pgsieve_catalog_loaded", "gauge", "1 once the upstream catalog has been read.",
           g.catalog_loaded ? 1 : 0);
    metric(out, "pgsieve_audit_queue_depth", "gauge", "Audit records waiting to be written.", g.audit_queued);
    metric(out, "pgsieve_audit_written_total", "counter", "Audit records committed to SQLite.", g.audit_written);
    metric(out, "pgsieve_audit_dropped_total", "counter", "Audit records dropped (full queue or unwritable file).",
           g.audit_dropped);
    metric(out, "pgsieve_audit_write_failures_total", "counter", "Audit batches that failed to commit.",
           g.audit_write_failures);
    metric(out, "pgsieve_audit_writable", "gauge", "0 while the audit log cannot be written.", g.audit_writable ? 1 : 0);
    if (!g.exports.empty()) {
        const auto family = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
            fmt::format_to(std::back_inserter(out), "# HELP {0} {1}\n# TYPE {0} {2}\n", name, help, type);
            for (const auto& e : g.exports)
                fmt::format_to(std::back_inserter(out), "{}{{destination=\"{}\"}} {}\n", name, label(e.destination),
                               value(e));
        };
        family("pgsieve_audit_export_shipped_total", "counter", "Audit records a destination acknowledged.",
               [](const export_gauge& e) { return e.shipped; });
        family("pgsieve_audit_export_failures_total", "counter", "Export requests that failed (retried).",
               [](const export_gauge& e) { return e.failures; });
        family("pgsieve_audit_export_quarantined_total", "counter",
               "Audit records a destination refused alone (still in the file; an event names each).",
               [](const export_gauge& e) { return e.quarantined; });
        family("pgsieve_audit_export_lag_seconds", "gauge", "Age of the oldest audit record not yet shipped.",
               [](const export_gauge& e) { return e.lag_seconds; });
        family("pgsieve_audit_export_stalled", "gauge",
               "1 while a destination's cursor has not moved for audit.export.stalled_after with records waiting.",
               [](const export_gauge& e) { return e.stalled ? 1 : 0; });
    }
    return out;
}

}  // namespace pgsieve::session
