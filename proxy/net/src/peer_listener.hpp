#pragma once
// The peer port (cluster.peer_listen): forwarded CancelRequests from peer
// replicas, nothing else. It stays open while the replica drains after
// SIGTERM: its client listener is closed then (so the load balancer sends
// new clients elsewhere), yet a statement still running on it must stay
// cancellable through the replica the balancer sends the cancel to.

#include "asio.hpp"
#include "cancel_forward.hpp"

#include <pgsieve/session/cancel_registry.hpp>

#include <chrono>
#include <cstddef>
#include <memory>

namespace pgsieve::net {

class peer_listener {
public:
    // Throws std::runtime_error naming the address when it cannot listen.
    // Connections from addresses that are not `peers` are closed unread.
    peer_listener(asio::io_context& io, const tcp::endpoint& endpoint, const session::cancel_registry& cancels,
                  const peer_directory& peers);

    // Accepts until the io_context stops.
    void start();

private:
    awaitable<void> accept_loop();
    awaitable<void> serve(tcp::socket socket);

    tcp::acceptor acceptor_;
    const session::cancel_registry& cancels_;
    const peer_directory& peers_;
    // Connections being served (one thread): past the limit, closed at once,
    // so the peer port cannot be used to hold sockets open. Shared with the
    // connections' frames, which the io_context may destroy after this.
    std::shared_ptr<std::size_t> active_ = std::make_shared<std::size_t>(0);
    // A stranger's connections are logged at most every 10 s, not each.
    std::chrono::steady_clock::time_point refused_logged_{};
};

}  // namespace pgsieve::net
