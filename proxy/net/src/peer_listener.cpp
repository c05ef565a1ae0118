#include "peer_listener.hpp"

#include "cancel_forward.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/wire/frontend.hpp>

#include <fmt/format.h>

#include <array>
#include <stdexcept>
#include <variant>

namespace pgsieve::net {

namespace {

// A CancelRequest is 16 bytes: length, code, process id, secret key.
constexpr std::size_t cancel_request_size = 16;
constexpr std::size_t max_active = 64;
constexpr auto read_deadline = std::chrono::seconds(5);

}  // namespace

peer_listener::peer_listener(asio::io_context& io, const tcp::endpoint& endpoint,
                             const session::cancel_registry& cancels, const peer_directory& peers)
    : acceptor_(io), cancels_(cancels), peers_(peers) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        throw std::runtime_error(fmt::format("cannot listen on cluster.peer_listen {}:{}: {}",
                                             endpoint.address().to_string(), endpoint.port(), ec.message()));
}

void peer_listener::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

awaitable<void> peer_listener::accept_loop() {
    for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            log::warn("accept_failed", {{"listener", "cluster.peer_listen"}, {"error", ec.message()}});
            continue;
        }
        if (*active_ >= max_active) continue;  // the socket closes here
        error_code ignored;
        const auto from = socket.remote_endpoint(ignored);
        if (ignored || !peers_.is_peer(from.address())) {
            // Only the peers (cluster.peers, resolved) forward cancels here.
            const auto now = std::chrono::steady_clock::now();
            if (now - refused_logged_ >= std::chrono::seconds(10) && (refused_logged_ = now, true))
                log::warn("peer_port_refused", {{"peer", ignored ? std::string("unknown") : from.address().to_string()},
                                                {"why", "not an address cluster.peers resolves to"}});
            continue;
        }
        asio::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), asio::detached);
    }
}

awaitable<void> peer_listener::serve(tcp::socket socket) {
    struct counted {
        std::shared_ptr<std::size_t> active;
        explicit counted(std::shared_ptr<std::size_t> a) : active(std::move(a)) { ++*active; }
        ~counted() { --*active; }
    } counting(active_);
    error_code ignored;
    const auto from = socket.remote_endpoint(ignored);
    const auto peer = fmt::format("{}:{}", from.address().to_string(), from.port());
    asio::steady_timer deadline(socket.get_executor(), read_deadline);
    deadline.async_wait([&socket](error_code e) {
        if (e) return;  // cancelled: `socket` may be gone
        error_code ignored;
        socket.close(ignored);
    });
    std::array<char, cancel_request_size> packet{};
    auto [ec, n] = co_await asio::async_read(socket, asio::buffer(packet), use_tuple);
    deadline.cancel();
    const auto length = (static_cast<std::uint32_t>(static_cast<unsigned char>(packet[0])) << 24) |
                        (static_cast<std::uint32_t>(static_cast<unsigned char>(packet[1])) << 16) |
                        (static_cast<std::uint32_t>(static_cast<unsigned char>(packet[2])) << 8) |
                        static_cast<std::uint32_t>(static_cast<unsigned char>(packet[3]));
    const auto parsed = ec || length != cancel_request_size
                            ? expected<wire::startup_packet, std::string>(unexpected(std::string("not 16 bytes")))
                            : wire::parse_startup_packet(std::string_view(packet.data() + 4, packet.size() - 4));
    const auto* request = parsed ? std::get_if<wire::cancel_request>(&*parsed) : nullptr;
    if (!request || !request->forwarded) {
        // Not a peer's forwarded cancel: clients belong on the client port.
        log::warn("peer_port_refused", {{"peer", peer}, {"why", "only forwarded CancelRequests are taken here"}});
        socket.close(ignored);
        co_return;
    }
    // A key this replica did not issue is dropped: the other peers got it too.
    if (const auto target = cancels_.find({request->process_id, request->secret_key})) {
        const auto upstream = fmt::format("{}:{}", target->host, target->port);
        auto endpoints = co_await resolve_all(target->host, target->port);
        if (co_await send_cancel(std::move(endpoints),
                                 {target->upstream_key.process_id, target->upstream_key.secret_key}))
            log::info("cancel_forwarded", {{"peer", peer}, {"upstream", upstream}, {"from", "peer replica"}});
        else
            log::warn("cancel_failed", {{"peer", peer}, {"upstream", upstream}});
    }
    socket.close(ignored);
}

}  // namespace pgsieve::net
