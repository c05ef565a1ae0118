#pragma once
// POSTs to one endpoint over a kept HTTP/1.1 connection (Boost.Beast), over
// TLS for https:// with the certificate verified and its name checked
// against the endpoint's host: the audit export's OTLP/HTTP client, and
// approval webhooks. Blocking, one thread at a time (its caller's).

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsieve::net {

class http_client {
public:
    explicit http_client(config::http_endpoint to);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // The response's status code, or why there was none. A connection the
    // receiver closed while idle is replaced once, transparently.
    [[nodiscard]] expected<int, std::string> post(const std::string& body, std::chrono::milliseconds timeout,
                                                  std::string_view content_type = "application/x-protobuf",
                                                  const std::vector<std::pair<std::string, std::string>>& headers = {});

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace pgsieve::net
