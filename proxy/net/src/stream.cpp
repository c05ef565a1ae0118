#include "stream.hpp"

#include <openssl/ssl.h>

namespace pgsieve::net {

awaitable<error_code> stream::read_some(std::string& buffer, std::size_t max) {
    const std::size_t old = buffer.size();
    buffer.resize(old + max);
    auto target = asio::buffer(buffer.data() + old, max);
    auto [ec, n] = tls_ ? co_await tls_->async_read_some(target, use_tuple)
                        : co_await socket_.async_read_some(target, use_tuple);
    buffer.resize(old + n);
    co_return ec;
}

awaitable<error_code> stream::write_all(std::string_view data) {
    auto source = asio::buffer(data.data(), data.size());
    auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, source, use_tuple)
                        : co_await asio::async_write(socket_, source, use_tuple);
    co_return ec;
}

awaitable<error_code> stream::tls_accept(asio::ssl::context& context) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, context);
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
    co_return ec;
}

awaitable<error_code> stream::tls_connect(asio::ssl::context& context, const std::string& host, bool verify_host) {
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, context);
    // SNI, and for verify-full the name the certificate must carry.
    SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
    if (verify_host) tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
    co_return ec;
}

awaitable<void> stream::close_gracefully() {
    error_code ec;
    if (tls_) {
        // Best effort close_notify; a peer that already left is fine.
        asio::steady_timer limit(socket_.get_executor(), std::chrono::milliseconds(200));
        limit.async_wait([this](error_code e) {
            if (!e) cancel();
        });
        co_await tls_->async_shutdown(use_tuple);
        limit.cancel();
    }
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    // Drain until the peer closes, at most one second.
    asio::steady_timer limit(socket_.get_executor(), std::chrono::seconds(1));
    limit.async_wait([this](error_code e) {
        if (!e) cancel();
    });
    std::array<char, 512> sink{};
    for (;;) {
        auto [e, n] = co_await socket_.async_read_some(asio::buffer(sink), use_tuple);
        if (e) break;
    }
    limit.cancel();
    close();
}

}  // namespace pgsieve::net
