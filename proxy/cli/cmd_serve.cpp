// pgsieve serve -c FILE: load the configuration and run the proxy.

#include "commands.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/server.hpp>

#include <fmt/format.h>

#include <csignal>
#include <iostream>

namespace pgsieve::cli {

int run_serve(const serve_options& options) {
    const auto loaded = config::load_file(options.config_file);
    if (!loaded) {
        print_config_errors(loaded.error(), options.config_file, "; not serving");
        return exit_usage;
    }
    const auto& cfg = *loaded;
    for (const auto& w : cfg->warnings)
        log::warn("config_warning", {{"file", cfg->source_path}, {"line", w.line}, {"key", w.key}, {"message", w.message}});

    // Say plainly what this build does not do yet, rather than accept the keys silently.
    log::warn("audit_not_written", {{"file", cfg->audit.sqlite},
                                    {"message", "this build does not write the audit log yet; statements are logged "
                                                "only as session counts"}});
    if (cfg->admin)
        log::warn("admin_not_served", {{"message", "this build does not serve /metrics and /healthz yet"}});

    // A peer that goes away mid-write must not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        net::server_options server_options;
        server_options.config_path = options.config_file;
        server_options.threads = options.threads;
        server_options.shutdown_grace = std::chrono::seconds(options.shutdown_grace_seconds);
        net::server server(cfg, server_options);
        server.run();
    } catch (const std::exception& e) {
        log::error("startup_failed", {{"error", e.what()}});
        std::cerr << "pgsieve: " << e.what() << "\n";
        return exit_refused;
    }
    return exit_ok;
}

}  // namespace pgsieve::cli
