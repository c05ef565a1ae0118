#include "cancel_forward.hpp"

#include <array>

namespace pgsieve::net {

awaitable<std::vector<tcp::endpoint>> resolve_all(const std::string& host, std::uint16_t port) {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [ec, results] = co_await resolver.async_resolve(host, std::to_string(port), use_tuple);
    std::vector<tcp::endpoint> out;
    if (!ec) {
        for (const auto& r : results) out.push_back(r.endpoint());
    }
    co_return out;
}

awaitable<bool> send_cancel(std::vector<tcp::endpoint> endpoints, wire::cancel_request request,
                            std::chrono::steady_clock::duration limit) {
    auto executor = co_await asio::this_coro::executor;
    tcp::socket socket(executor);
    // One deadline for the whole exchange: a peer that accepts and never
    // answers must not hold the client's cancel forever.
    asio::steady_timer deadline(executor, limit);
    bool expired = false;
    deadline.async_wait([&socket, &expired](error_code e) {
        if (e) return;
        expired = true;
        error_code ignored;
        socket.close(ignored);
    });
    bool acted = false;
    if (!endpoints.empty() && !expired) {
        auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
        if (!cec) {
            std::string bytes;
            wire::write_cancel_request(bytes, request);
            auto [wec, written] = co_await asio::async_write(socket, asio::buffer(bytes), use_tuple);
            if (!wec) {
                std::array<char, 64> sink{};
                for (;;) {
                    auto [e, n] = co_await socket.async_read_some(asio::buffer(sink), use_tuple);
                    if (e) break;
                }
                acted = !expired;
            }
        }
    }
    deadline.cancel();
    error_code ignored;
    socket.close(ignored);
    co_return acted;
}

}  // namespace pgsieve::net
