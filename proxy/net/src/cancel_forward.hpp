#pragma once
// Cancel forwarding between replicas behind one load balancer: a
// CancelRequest whose key another replica issued goes to that replica's peer
// port, marked forwarded, within limits an unauthenticated client cannot
// turn into a flood.

#include "asio.hpp"

#include <pgsieve/session/policy_snapshot.hpp>
#include <pgsieve/wire/frontend.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pgsieve::net {

// Sends a CancelRequest on a new connection and waits, as libpq's PQcancel
// does, until the receiver has acted on it (it closes the connection). False
// when the receiver could not be reached within `limit` (connect, write and
// the wait for its close together). `endpoints`: the first that accepts gets it.
awaitable<bool> send_cancel(std::vector<tcp::endpoint> endpoints, wire::cancel_request request,
                            std::chrono::steady_clock::duration limit = std::chrono::seconds(5));

// Every address `host` resolves to (empty when it does not resolve).
awaitable<std::vector<tcp::endpoint>> resolve_all(const std::string& host, std::uint16_t port);

// The peers (cluster.peers of the configuration in force), resolved now and
// every `refresh` on the control thread: their addresses with the tag of the
// replica each names, if it names one. Read from any thread.
class peer_directory {
public:
    peer_directory(asio::any_io_executor control, const session::policy_source& policies);
    void start();

    // Where a key with this tag goes: the peers naming a replica with that
    // tag, else (no named peer has it) the peers that name none.
    std::vector<tcp::endpoint> replicas_for(std::uint8_t tag) const;
    // Whether a connection from `address` comes from a peer.
    bool is_peer(const asio::ip::address& address) const;
    std::size_t size() const;

private:
    struct replica {
        tcp::endpoint endpoint;
        std::optional<std::uint8_t> tag;
    };
    awaitable<void> refresh_loop();

    asio::any_io_executor control_;
    const session::policy_source& policies_;
    mutable std::mutex mutex_;
    std::vector<replica> replicas_;
};

// Forwards foreign keys (never waits: the client is answered at once),
// bounded: at most `max_in_flight` forwards at once, `max_per_source` from one
// client address, and `rate` new forwards a second (a burst of twice that).
class cancel_forwarder {
public:
    static constexpr std::size_t max_in_flight = 64;
    static constexpr std::size_t max_per_source = 4;
    static constexpr double rate = 20;

    cancel_forwarder(asio::any_io_executor control, const peer_directory& peers);
    // Thread-safe; the work runs on the control thread.
    void forward(wire::cancel_request request, asio::ip::address from);
    std::uint64_t dropped() const;

private:
    void start(wire::cancel_request request, asio::ip::address from);

    asio::any_io_executor control_;
    const peer_directory& peers_;
    // The control thread only.
    std::size_t in_flight_ = 0;
    std::map<asio::ip::address, std::size_t> per_source_;
    double tokens_ = 2 * rate;
    std::chrono::steady_clock::time_point refilled_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_logged_{};
    std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace pgsieve::net
