// pgsieve serve -c FILE: load the configuration and run the proxy.

#include "commands.hpp"

#include <pgsieve/audit/sink.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/audit_exporter.hpp>
#include <pgsieve/net/server.hpp>

#include <fmt/format.h>

#include <csignal>
#include <iostream>

namespace pgsieve::cli {

int run_serve(const serve_options& options) {
    // A SIGHUP before the server installs its handler (while the audit file
    // opens and the first catalog loads) must not end the process with the
    // default action; the configuration read at start is the newest then.
    std::signal(SIGHUP, SIG_IGN);
    const auto loaded = config::load_file(options.config_file);
    if (!loaded) {
        print_config_errors(loaded.error(), options.config_file, "; not serving");
        return exit_usage;
    }
    const auto& cfg = *loaded;
    for (const auto& w : cfg->warnings)
        log::warn("config_warning", {{"file", cfg->source_path}, {"line", w.line}, {"key", w.key}, {"message", w.message}});

    // No audit, no service: every statement must be recordable.
    audit::sink_options audit_options;
    audit_options.path = cfg->audit.sqlite;
    audit_options.normalize_sql = cfg->audit.sql == config::store_sql::normalized;
    audit_options.drop_on_overflow = cfg->audit.overflow == config::on_overflow::drop;
    audit_options.flush_interval = cfg->audit.flush_interval;
    audit_options.checkpoint_key = cfg->audit.checkpoint_key;
    audit_options.checkpoint_interval = cfg->audit.checkpoint_interval;
    audit_options.instance_id = net::instance_id(*cfg);
    if (cfg->audit.retention) {
        audit_options.retention = std::chrono::duration_cast<std::chrono::milliseconds>(*cfg->audit.retention);
        audit_options.shipped_to = net::audit_exporter::destinations(cfg->audit);
    }
    auto sink = audit::sink::open(audit_options);
    if (!sink) {
        log::error("audit_open_failed", {{"error", sink.error()}});
        std::cerr << "pgsieve: audit.sqlite: " << sink.error() << "; not serving\n";
        return exit_refused;
    }
    log::info("audit_open", {{"file", cfg->audit.sqlite}, {"store_sql", config::to_string(cfg->audit.sql)},
                             {"on_failure", config::to_string(cfg->audit.failure)},
                             {"on_overflow", config::to_string(cfg->audit.overflow)}});

    // Shipping off the machine runs beside the sink, on its own thread and
    // its own connection to the file: it never holds a statement up.
    std::vector<std::unique_ptr<net::audit_exporter>> exporters;
    if (cfg->audit.otlp)
        exporters.push_back(net::audit_exporter::otlp(cfg->audit.sqlite, *cfg->audit.otlp, net::instance_id(*cfg)));
    if (cfg->audit.postgresql)
        exporters.push_back(
            net::audit_exporter::central_store(cfg->audit.sqlite, *cfg->audit.postgresql, net::instance_id(*cfg)));
    for (auto& e : exporters) {
        e->stall_after(std::chrono::duration_cast<std::chrono::milliseconds>(cfg->audit.stalled_after));
        e->start();
        log::info("audit_export_started", {{"destination", e->destination()}, {"instance_id", net::instance_id(*cfg)}});
    }
    const auto stop_exporters = [&] {
        for (auto& e : exporters) {
            e->stop();
            log::info("audit_export_stopped", {{"destination", e->destination()},
                                               {"shipped", e->stats().shipped.load()},
                                               {"failed_requests", e->stats().failures.load()},
                                               {"quarantined", e->stats().quarantined.load()}});
        }
    };

    // A peer that goes away mid-write must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        net::server_options server_options;
        server_options.config_path = options.config_file;
        server_options.threads = options.threads;
        server_options.shutdown_grace = std::chrono::seconds(options.shutdown_grace_seconds);
        server_options.watch_config = options.watch_config;
        server_options.audit = sink->get();
        for (const auto& e : exporters) server_options.exporters.push_back(e.get());
        {
            net::server server(cfg, server_options);
            server.run();
        }  // every session has handed over its records
    } catch (const std::exception& e) {
        log::error("startup_failed", {{"error", e.what()}});
        std::cerr << "pgsieve: " << e.what() << "\n";
        (*sink)->close();
        stop_exporters();
        return exit_refused;
    }
    (*sink)->close();
    // A last pass ships what the drain wrote (the rest, if a destination is down, at the next start).
    stop_exporters();
    const auto stats = (*sink)->stats();
    log::info("audit_closed", {{"file", cfg->audit.sqlite}, {"written", stats.written}, {"dropped", stats.dropped},
                               {"failed_writes", stats.failed_writes}});
    if (stats.dropped > 0)
        log::error("audit_records_dropped", {{"file", cfg->audit.sqlite}, {"dropped", stats.dropped},
                                             {"message", "see the audit_dropped events in the audit log"}});
    return exit_ok;
}

}  // namespace pgsieve::cli
