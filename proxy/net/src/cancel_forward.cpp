#include "cancel_forward.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/session/cancel_registry.hpp>

#include <fmt/format.h>

#include <array>

namespace pgsieve::net {

namespace {
// How often the peers' names are resolved again (replicas come and go).
constexpr auto refresh_interval = std::chrono::seconds(30);
}  // namespace

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

peer_directory::peer_directory(asio::any_io_executor control, const session::policy_source& policies)
    : control_(std::move(control)), policies_(policies) {}

void peer_directory::start() { asio::co_spawn(control_, refresh_loop(), asio::detached); }

awaitable<void> peer_directory::refresh_loop() {
    asio::steady_timer timer(control_);
    for (;;) {
        const auto snapshot = policies_.current();
        std::vector<replica> found;
        if (snapshot && snapshot->cfg) {
            for (const auto& p : snapshot->cfg->cluster.peers) {
                const auto addresses = co_await resolve_all(p.host, p.port);
                if (addresses.empty())
                    log::warn("cancel_peer_unresolved", {{"peer_replica", fmt::format("{}:{}", p.host, p.port)}});
                for (const auto& a : addresses)
                    found.push_back({a, p.instance.empty() ? std::nullopt
                                                           : std::optional<std::uint8_t>(session::replica_tag(p.instance))});
            }
        }
        {
            std::lock_guard lock(mutex_);
            replicas_ = std::move(found);
        }
        timer.expires_after(refresh_interval);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec) co_return;
    }
}

std::vector<tcp::endpoint> peer_directory::replicas_for(std::uint8_t tag) const {
    std::lock_guard lock(mutex_);
    std::vector<tcp::endpoint> named, unnamed;
    for (const auto& r : replicas_) {
        if (!r.tag) unnamed.push_back(r.endpoint);
        else if (*r.tag == tag) named.push_back(r.endpoint);
    }
    return named.empty() ? unnamed : named;
}

bool peer_directory::is_peer(const asio::ip::address& address) const {
    std::lock_guard lock(mutex_);
    for (const auto& r : replicas_) {
        if (r.endpoint.address() == address) return true;
    }
    return false;
}

std::size_t peer_directory::size() const {
    std::lock_guard lock(mutex_);
    return replicas_.size();
}

cancel_forwarder::cancel_forwarder(asio::any_io_executor control, const peer_directory& peers)
    : control_(std::move(control)), peers_(peers) {}

std::uint64_t cancel_forwarder::dropped() const { return dropped_.load(std::memory_order_relaxed); }

void cancel_forwarder::forward(wire::cancel_request request, asio::ip::address from) {
    asio::post(control_, [this, request, from] { start(request, from); });
}

void cancel_forwarder::start(wire::cancel_request request, asio::ip::address from) {
    const auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(2 * rate, tokens_ + rate * std::chrono::duration<double>(now - refilled_).count());
    refilled_ = now;
    const auto tag = session::tag_of({request.process_id, request.secret_key});
    auto replicas = peers_.replicas_for(tag);
    const char* refused = replicas.empty()                      ? "no peer has the key's replica tag"
                          : tokens_ < 1                          ? "more foreign keys a second than cancels need"
                          : in_flight_ >= max_in_flight          ? "too many forwards at once"
                          : per_source_[from] >= max_per_source ? "too many forwards from this address at once"
                                                                 : nullptr;
    if (refused) {
        if (per_source_[from] == 0) per_source_.erase(from);
        // Logged at most once a second: an attack must not fill the log either.
        if (dropped_.fetch_add(1, std::memory_order_relaxed) == 0 || now - last_logged_ > std::chrono::seconds(1)) {
            last_logged_ = now;
            log::warn("cancel_not_forwarded", {{"peer", from.to_string()}, {"why", refused}, {"dropped", dropped()}});
        }
        return;
    }
    tokens_ -= 1;
    ++in_flight_;
    ++per_source_[from];
    request.forwarded = true;
    const auto count = replicas.size();
    auto remaining = std::make_shared<std::size_t>(count);
    for (const auto& replica : replicas) {
        asio::co_spawn(control_, send_cancel({replica}, request),
                       [this, remaining, replica, from, count](std::exception_ptr, bool reached) {
                           if (!reached)
                               log::warn("cancel_peer_unreachable",
                                         {{"peer_replica", fmt::format("{}:{}", replica.address().to_string(),
                                                                       replica.port())}});
                           if (--*remaining > 0) return;
                           --in_flight_;
                           if (--per_source_[from] == 0) per_source_.erase(from);
                           log::info("cancel_sent_to_peers", {{"peer", from.to_string()}, {"replicas", count}});
                       });
    }
}

}  // namespace pgsieve::net
