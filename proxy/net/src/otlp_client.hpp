#pragma once
// The audit export's OTLP/HTTP client: POSTs to one endpoint over a kept
// HTTP/1.1 connection (Boost.Beast), over TLS for https:// with the
// certificate verified and its name checked against the endpoint's host.
// Blocking, one thread at a time (the exporter's).

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace pgsieve::net {

class otlp_client {
public:
    explicit otlp_client(config::otlp_export to);
    ~otlp_client();
    otlp_client(const otlp_client&) = delete;
    otlp_client& operator=(const otlp_client&) = delete;

    // The response's status code, or why there was none. A connection the
    // receiver closed while idle is replaced once, transparently.
    [[nodiscard]] expected<int, std::string> post(const std::string& body, std::chrono::milliseconds timeout);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace pgsieve::net
