#pragma once
// Reads a catalog snapshot from the configured upstream server, logging in
// as the proxy does for its sessions. Blocking: for start-up, reloads and
// `pgsieve check`.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::net {

[[nodiscard]] expected<std::shared_ptr<const policy::catalog>, std::string> load_catalog(
    const config::config& cfg, std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Runs simple-protocol queries upstream, logged in as `user` (pgsieve check
// --schema, and the catalog reads below); each query's rows as text.
[[nodiscard]] expected<std::vector<std::vector<policy::row>>, std::string> query_upstream(
    const config::config& cfg, const std::string& user, const std::optional<std::string>& password,
    const std::vector<std::string>& queries, std::chrono::milliseconds timeout = std::chrono::seconds(30));
// The same against any PostgreSQL server (the central audit store). A
// failure says where and why; `sqlstate` is the server's when it answered
// with an ErrorResponse (empty when it could not be reached or logged into).
struct server_error {
    std::string message;
    std::string sqlstate;
};
// A session to a server kept between calls (the audit export's store): it
// logs in at the first call and again after a failure that ended it.
// Blocking; one thread at a time.
class server_client {
public:
    server_client(config::upstream_settings server, std::string user, std::optional<std::string> password,
                  std::string application_name);
    ~server_client();  // sends Terminate
    server_client(const server_client&) = delete;
    server_client& operator=(const server_client&) = delete;
    [[nodiscard]] expected<std::vector<std::vector<policy::row>>, server_error> query(
        const std::vector<std::string>& queries, std::chrono::milliseconds timeout = std::chrono::seconds(30));

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};
// One call on a session of its own.
[[nodiscard]] expected<std::vector<std::vector<policy::row>>, server_error> query_server(
    const config::upstream_settings& server, const std::string& user, const std::optional<std::string>& password,
    const std::vector<std::string>& queries, std::string_view application_name,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));
// The rows themselves, as `pgsieve dump-catalog` records them for tests.
[[nodiscard]] expected<policy::catalog_rows, std::string> load_catalog_rows(
    const config::config& cfg, std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace pgsieve::net
