#pragma once
// A TCP connection that may switch to TLS after PostgreSQL's SSLRequest
// answer: reads and writes go through TLS once the handshake is done.

#include "asio.hpp"

#include <memory>
#include <string>

namespace pgsieve::net {

class stream {
public:
    explicit stream(tcp::socket socket) : socket_(std::move(socket)) {}

    // Reads what is available (at most `max`) onto the end of `buffer`.
    awaitable<error_code> read_some(std::string& buffer, std::size_t max);
    // Writes all of `data`.
    awaitable<error_code> write_all(std::string_view data);

    awaitable<error_code> tls_accept(asio::ssl::context& context);
    awaitable<error_code> tls_connect(asio::ssl::context& context, const std::string& host, bool verify_host);

    // Stops pending reads and writes (they complete with operation_aborted).
    void cancel() {
        error_code ignored;
        socket_.cancel(ignored);
    }
    // Ends the connection: our side first, then waits briefly for the peer so
    // a final ErrorResponse is read rather than lost to a reset.
    awaitable<void> close_gracefully();
    void close() {
        error_code ignored;
        socket_.close(ignored);
    }

    bool tls() const { return tls_ != nullptr; }
    SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
    tcp::socket& socket() { return socket_; }

private:
    tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;
};

}  // namespace pgsieve::net
