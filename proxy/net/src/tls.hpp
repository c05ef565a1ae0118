#pragma once
// TLS contexts: the proxy's own certificate for clients, and how it checks
// the upstream server's (sslmode). Built once at start; errors name the file.

#include "asio.hpp"

#include <pgsieve/config/config.hpp>

#include <memory>
#include <string>

namespace pgsieve::net {

// Throws std::runtime_error naming the file when the certificate or key
// cannot be used.
std::unique_ptr<asio::ssl::context> make_client_side_tls(const config::tls_settings& tls);
std::unique_ptr<asio::ssl::context> make_upstream_tls(const config::upstream_settings& upstream);

// The tls-server-end-point channel binding data (RFC 5929) of a connection
// pgsieve serves: the hash of its own certificate, with the certificate's
// signature hash (SHA-256 when that is MD5 or SHA-1). Empty when unknown.
std::string server_end_point(SSL* ssl);

}  // namespace pgsieve::net
