#include "http_client.hpp"

#include "asio.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fmt/format.h>

#include <optional>
#include <variant>

namespace pgsieve::net {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// An OTLP answer is an ExportLogsServiceResponse of a few bytes: a receiver
// that sends more is cut off.
constexpr std::size_t max_response_body = 64 * 1024;

}  // namespace

struct http_client::impl {
    config::http_endpoint to;
    // Declared before the streams, so it outlives their sockets. Replaced
    // after a post that would not unwind (a name lookup still running): the
    // old one is destroyed with that post, never resuming it.
    std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
    std::unique_ptr<asio::ssl::context> tls;
    std::string tls_error;  // the TLS settings could not be used: every post fails with it
    // The kept connection, plain or TLS; none between a failure and the next post.
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
    beast::flat_buffer buffer;
    bool reused = false;  // the connection has carried a request already

    bool connected() const { return plain || secure; }

    void close() {
        error_code ignored;
        if (plain) plain->socket().close(ignored);
        if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
    }

    void disconnect() {
        close();
        plain.reset();
        secure.reset();
        buffer.clear();
        reused = false;
    }

    awaitable<error_code> connect() {
        auto executor = co_await asio::this_coro::executor;
        tcp::resolver resolver(executor);
        auto [rec, endpoints] = co_await resolver.async_resolve(to.host, std::to_string(to.port), use_tuple);
        if (rec) co_return rec;
        beast::tcp_stream tcp(executor);
        auto [cec, endpoint] = co_await tcp.async_connect(endpoints, use_tuple);
        if (cec) co_return cec;
        tcp.socket().set_option(tcp::no_delay(true));
        if (!to.tls) {
            plain.emplace(std::move(tcp));
            co_return error_code{};
        }
        secure.emplace(std::move(tcp), *tls);
        // SNI, and the name the certificate must carry.
        if (!SSL_set_tlsext_host_name(secure->native_handle(), to.host.c_str()))
            co_return error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
        secure->set_verify_callback(asio::ssl::host_name_verification(to.host));
        auto [hec] = co_await secure->async_handshake(asio::ssl::stream_base::client, use_tuple);
        co_return hec;
    }

    awaitable<error_code> exchange(const http::request<http::string_body>& request, int& status) {
        http::response_parser<http::string_body> parser;
        parser.body_limit(max_response_body);
        const auto run = [&](auto& stream) -> awaitable<error_code> {
            auto [wec, written] = co_await http::async_write(stream, request, use_tuple);
            if (wec) co_return wec;
            auto [rec, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
            co_return rec;
        };
        const auto ec = plain ? co_await run(*plain) : co_await run(*secure);
        if (ec) co_return ec;
        status = static_cast<int>(parser.get().result_int());
        if (!parser.get().keep_alive()) disconnect();  // the receiver ends it: the next post connects again
        else reused = true;
        co_return error_code{};
    }

    // Connects when needed, then sends; a kept connection that fails before
    // any answer (the receiver closed it while idle) is replaced once.
    awaitable<void> post(const http::request<http::string_body>& request, int& status, std::string& error) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            if (!connected()) {
                if (const auto ec = co_await connect(); ec) {
                    disconnect();
                    error = "cannot connect: " + ec.message();
                    co_return;
                }
            }
            const bool was_reused = reused;
            const auto ec = co_await exchange(request, status);
            if (!ec) {
                error.clear();  // a first attempt's failure was the idle connection's, not this post's
                co_return;
            }
            disconnect();
            error = ec.message();
            if (!was_reused) co_return;
        }
    }
};

http_client::http_client(config::http_endpoint to) : impl_(std::make_unique<impl>()) {
    impl_->to = std::move(to);
    if (!impl_->to.tls) return;
    try {
        impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
        impl_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                                asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                                asio::ssl::context::no_tlsv1_1);
        if (impl_->to.ca_file.empty()) impl_->tls->set_default_verify_paths();
        else impl_->tls->load_verify_file(impl_->to.ca_file);
        impl_->tls->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    } catch (const std::exception& e) {
        impl_->tls_error = fmt::format("ca_file {}: {}", impl_->to.ca_file, e.what());
    }
}

http_client::~http_client() { impl_->disconnect(); }

expected<int, std::string> http_client::post(const std::string& body, std::chrono::milliseconds timeout,
                                             std::string_view content_type,
                                             const std::vector<std::pair<std::string, std::string>>& headers) {
    if (!impl_->tls_error.empty()) return unexpected(impl_->tls_error);
    http::request<http::string_body> request{http::verb::post, impl_->to.path, 11};
    request.set(http::field::host, fmt::format("{}:{}", impl_->to.host, impl_->to.port));
    request.set(http::field::user_agent, "pgsieve");
    request.set(http::field::content_type, content_type);
    for (const auto& [name, value] : headers) request.set(name, value);
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();

    int status = 0;
    std::string error;
    bool finished = false;
    auto& io = *impl_->io;
    io.restart();
    asio::co_spawn(io, impl_->post(request, status, error), [&](std::exception_ptr) { finished = true; });
    // The whole exchange under one deadline: a receiver that accepts and
    // hangs must not stall shipping forever.
    io.run_for(timeout);
    if (!finished) {
        impl_->close();  // what waits on the socket ends, aborted
        io.restart();
        io.run_for(std::chrono::seconds(1));
        impl_->disconnect();
        // Still not unwound (it refers to this frame's request and status):
        // destroyed with its io_context instead of resumed by the next post.
        if (!finished) impl_->io = std::make_unique<asio::io_context>(1);
        return unexpected(fmt::format("no answer within {} ms", timeout.count()));
    }
    if (!error.empty()) return unexpected(error);
    return status;
}

}  // namespace pgsieve::net
