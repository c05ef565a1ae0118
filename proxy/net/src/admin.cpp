#include "admin.hpp"

#include <pgsieve/common/log.hpp>

#include <fmt/format.h>

namespace pgsieve::net {

namespace {

using namespace asio::experimental::awaitable_operators;

constexpr std::size_t max_request_bytes = 8192;
constexpr auto request_timeout = std::chrono::seconds(5);

std::string_view reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 503: return "Service Unavailable";
        default: return "Error";
    }
}

awaitable<void> answer(tcp::socket socket, admin_handler handler) {
    std::string request;
    asio::steady_timer timer(socket.get_executor());
    timer.expires_after(request_timeout);
    auto read = asio::async_read_until(socket, asio::dynamic_buffer(request, max_request_bytes), "\r\n\r\n", use_tuple);
    const auto result = co_await (std::move(read) || timer.async_wait(use_tuple));
    http_response response;
    if (result.index() != 0 || std::get<0>(std::get<0>(result))) {
        co_return;  // timed out, too large, or the peer went away: nothing to answer
    }
    // "GET /metrics HTTP/1.1": the method and the path, without a query string.
    const std::string_view line = std::string_view(request).substr(0, request.find("\r\n"));
    const auto first_space = line.find(' ');
    const auto second_space = line.find(' ', first_space + 1);
    if (first_space == std::string_view::npos || second_space == std::string_view::npos) {
        response = {400, "text/plain; charset=utf-8", "bad request\n"};
    } else if (line.substr(0, first_space) != "GET") {
        response = {405, "text/plain; charset=utf-8", "only GET\n"};
    } else {
        std::string_view path = line.substr(first_space + 1, second_space - first_space - 1);
        path = path.substr(0, path.find('?'));
        response = handler(path);
    }
    const std::string head = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", response.status,
        reason(response.status), response.content_type, response.body.size());
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body)};
    co_await asio::async_write(socket, buffers, use_tuple);
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace

awaitable<void> serve_admin(tcp::acceptor& acceptor, admin_handler handler) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            log::warn("admin_accept_failed", {{"error", ec.message()}});
            continue;
        }
        // Each answer holds its own copy: it may outlive this loop.
        asio::co_spawn(acceptor.get_executor(), answer(std::move(socket), handler), asio::detached);
    }
}

}  // namespace pgsieve::net
