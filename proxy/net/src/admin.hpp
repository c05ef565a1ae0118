#pragma once
// The admin endpoint (DESIGN.md §5): GET /metrics in Prometheus' text
// format and GET /healthz, over plain HTTP/1.1 on admin.address:port (keep
// it on loopback or a management network). One request a connection.

#include "asio.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace pgsieve::net {

struct http_response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

// Answers a GET for `path`; called on the acceptor's thread.
using admin_handler = std::function<http_response(std::string_view path)>;

// Accepts until the acceptor is closed.
awaitable<void> serve_admin(tcp::acceptor& acceptor, admin_handler handler);

}  // namespace pgsieve::net
