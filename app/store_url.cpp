#include "store_url.hpp"

// Boost.URL's sources are compiled once, in config (boost_url.cpp).
#include <boost/url/parse.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

namespace pgsieve::cli {

expected<config::upstream_settings, std::string> store_address(const std::string& url) {
    const auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return unexpected(fmt::format("{}: not a URL: {}", url, parsed.error().message()));
    const auto& u = *parsed;
    if (u.scheme() != "postgresql" && u.scheme() != "postgres")
        return unexpected(fmt::format("{}: expected postgresql://USER@HOST[:PORT]/DATABASE", url));
    config::upstream_settings s;
    s.ssl = config::sslmode::prefer;
    if (u.has_password())
        return unexpected(std::string("a password in the URL is refused (it would show in ps): set PGPASSWORD"));
    s.user = u.user();
    if (s.user.empty()) return unexpected(fmt::format("{}: name the user: postgresql://USER@HOST/DATABASE", url));
    // A name, or an IPv4/IPv6 address (without its brackets).
    s.host = u.host_type() == boost::urls::host_type::name ? std::string(u.host_name()) : std::string(u.host_address());
    if (s.host.empty()) return unexpected(fmt::format("{}: expected HOST[:PORT]", url));
    if (u.has_port()) {
        const auto text = u.port();
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
        if (ec != std::errc() || end != text.data() + text.size() || port == 0 || port > 65535)
            return unexpected(fmt::format("{}: the port must be 1 to 65535", url));
        s.port = static_cast<std::uint16_t>(port);
    }
    std::string path = u.path();
    if (path.size() < 2 || path[0] != '/' || path.find('/', 1) != std::string::npos)
        return unexpected(fmt::format("{}: name the database: postgresql://USER@HOST:PORT/DATABASE", url));
    s.database = path.substr(1);
    for (const auto& p : u.params()) {
        if (p.key == "sslmode") {
            if (p.value == "disable") s.ssl = config::sslmode::disable;
            else if (p.value == "prefer") s.ssl = config::sslmode::prefer;
            else if (p.value == "require") s.ssl = config::sslmode::require;
            else if (p.value == "verify-full") s.ssl = config::sslmode::verify_full;
            else
                return unexpected(fmt::format("{}: sslmode must be disable, prefer, require or verify-full", url));
        } else if (p.key == "sslrootcert") {
            s.sslrootcert = p.value;
        } else {
            return unexpected(fmt::format("{}: parameter \"{}\" is not understood here (sslmode, sslrootcert)", url,
                                          std::string(p.key)));
        }
    }
    if (s.ssl == config::sslmode::verify_full && s.sslrootcert.empty())
        return unexpected(fmt::format("{}: sslmode=verify-full needs sslrootcert=FILE (the CA that signed the store's "
                                      "certificate)",
                                      url));
    if (const char* password = std::getenv("PGPASSWORD")) s.password = password;
    return s;
}

}  // namespace pgsieve::cli
