#pragma once
// Logging in to the upstream server as the configured role, sans-io: the
// optional SSLRequest, the StartupMessage, then SCRAM-SHA-256, MD5,
// cleartext or trust, until the first ReadyForQuery. Used by every client
// session and by the catalog loader.

#include <pgsieve/config/config.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgsieve::session {

class upstream_login {
public:
    enum class step {
        write,          // write and clear output()
        read,           // read into input()
        tls_handshake,  // TLS client handshake, then on_tls()
        ready,          // logged in; results below
        failed,         // error() says why
    };

    // Who logs in: upstream.user, or a policy's own upstream_user.
    struct identity {
        std::string user;
        std::optional<std::string> password;  // absent: trust (or the server asks and login fails)
    };

    // `input`/`output` are the caller's buffers for the upstream socket.
    upstream_login(const config::upstream_settings& upstream, identity who,
                   std::vector<std::pair<std::string, std::string>> parameters, std::string& input, std::string& output);

    void on_connected();  // the TCP connection is up: begin
    void on_tls(bool ok, std::string_view error);
    step next();

    const std::string& error() const { return error_; }
    const std::vector<std::pair<std::string, std::string>>& parameter_status() const { return status_; }
    wire::backend_key backend_key() const { return key_; }
    char transaction_status() const { return transaction_status_; }

private:
    enum class state { not_connected, ssl_response, tls, login, ready, failed };
    bool step_ssl_response();
    bool step_login();
    void send_startup();
    void fail(std::string why);

    const config::upstream_settings& upstream_;
    identity who_;
    std::vector<std::pair<std::string, std::string>> parameters_;
    std::string& in_;
    std::string& out_;
    state state_ = state::not_connected;
    std::optional<wire::scram::client_exchange> scram_;
    bool scram_verified_ = false;
    std::vector<std::pair<std::string, std::string>> status_;
    wire::backend_key key_{};
    char transaction_status_ = 'I';
    std::string error_;
};

}  // namespace pgsieve::session
