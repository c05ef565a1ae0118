#pragma once
// `pgsieve serve`: listens, runs one session per client connection on a
// pool of threads, forwards CancelRequests, and shuts down gracefully.

#include <pgsieve/audit/sink.hpp>
#include <pgsieve/config/config.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace pgsieve::net {

class audit_exporter;

struct server_options {
    std::string config_path;  // re-read on SIGHUP
    int threads = 0;          // 0: one per core
    std::chrono::milliseconds shutdown_grace = std::chrono::seconds(30);
    bool watch_config = false;  // also reload when the file's content changes
    audit::sink* audit = nullptr;  // outlives the server: it drains what the sessions left
    std::vector<const audit_exporter*> exporters;  // outlive the server; their state is in /metrics
};

class server {
public:
    // Throws std::runtime_error with a clear message if the TLS files cannot
    // be used or the address cannot be bound.
    server(std::shared_ptr<const config::config> cfg, server_options options);
    ~server();

    // Serves until SIGTERM or SIGINT (then drains: see DESIGN.md §2);
    // SIGHUP reloads the configuration file.
    void run();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace pgsieve::net
