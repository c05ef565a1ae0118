#pragma once
// The central audit store named on the command line as a PostgreSQL URL
// (postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=…]),
// parsed by Boost.URL (percent-encoding, IPv6 hosts) rather than by hand.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>

#include <string>

namespace pgsieve::cli {

// The store's address; the password comes from PGPASSWORD (a password in
// the URL is refused: it would show in ps). sslmode is disable, prefer
// (the default), require or verify-full (with sslrootcert, checked as the
// exporter checks its store).
[[nodiscard]] expected<config::upstream_settings, std::string> store_address(const std::string& url);

}  // namespace pgsieve::cli
