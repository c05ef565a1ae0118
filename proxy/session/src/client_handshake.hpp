#pragma once
// The client's side of a connection until it is authenticated: SSLRequest
// and GSSENCRequest answers, the StartupMessage, SCRAM-SHA-256 (-PLUS over
// TLS), then the checks that need an authenticated client (database,
// startup parameters, per-client connection limit). Sans-io: it reads the
// client's bytes from `in` and writes its answers to `out`.

#include <pgsieve/config/config.hpp>
#include <pgsieve/session/startup_parameters.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgsieve::session {

struct shared_state;

class client_handshake {
public:
    enum class step {
        need_input,     // read more from the client
        progress,       // something was consumed or written: call advance() again (after writing `out`)
        tls_handshake,  // write `out` (the 'S'), then the TLS server handshake, then on_tls()
        cancel,         // a CancelRequest: cancel_request() says which
        authenticated,  // done: the accessors below describe the client
        failed,         // failure() says why; write `out` (a FATAL, unless the client gets nothing) and close
        closed,         // nothing more to say (a TLS failure, a startup packet PostgreSQL would drop silently)
    };

    struct refusal {
        std::string sqlstate;
        std::string message;
        std::string hint;
    };

    client_handshake(const config::config& cfg, shared_state& shared) : cfg_(cfg), shared_(shared) {}
    ~client_handshake();
    client_handshake(const client_handshake&) = delete;
    client_handshake& operator=(const client_handshake&) = delete;

    step advance(std::string& in, std::string& out);
    // The TLS handshake finished; `channel_binding` is the tls-server-end-point
    // data (the certificate's hash) for SCRAM-SHA-256-PLUS, empty if unavailable.
    void on_tls(bool ok, std::string channel_binding);
    // A FATAL answered to the StartupMessage (after any SSLRequest), as
    // PostgreSQL reports "too many clients".
    void refuse_at_startup(std::string sqlstate, std::string message) {
        startup_refusal_ = refusal{std::move(sqlstate), std::move(message), {}};
    }

    const std::optional<refusal>& failure() const { return failure_; }
    const wire::cancel_request& cancel_request() const { return cancel_; }
    const std::string& user() const { return user_; }
    const std::string& database() const { return database_; }
    const std::string& application_name() const { return application_name_; }
    bool tls() const { return tls_; }
    const config::client* client() const { return client_; }
    const config::policy* policy() const { return policy_; }
    // What the upstream login sends (pinned search_path, timeouts, attributes…).
    const parameter_list& upstream_parameters() const { return upstream_parameters_; }
    const std::vector<std::string>& search_path() const { return search_path_; }

private:
    enum class state { startup, tls, sasl_initial, sasl_response, done };
    step step_startup(std::string& in, std::string& out);
    step step_auth(std::string& in, std::string& out);
    step on_startup_message(wire::startup_message m, std::string& out);
    step on_authenticated();
    step fail(std::string_view sqlstate, std::string message, std::string hint = {});

    const config::config& cfg_;
    shared_state& shared_;
    state state_ = state::startup;
    bool tls_ = false;
    bool ssl_requested_ = false;
    bool gssenc_requested_ = false;
    std::string channel_binding_;
    std::string user_, database_, application_name_;
    wire::startup_message startup_;
    const config::client* client_ = nullptr;
    const config::policy* policy_ = nullptr;
    std::optional<wire::scram::server_exchange> scram_;
    bool holds_client_slot_ = false;
    wire::cancel_request cancel_{};
    std::optional<refusal> failure_, startup_refusal_;
    parameter_list upstream_parameters_;
    std::vector<std::string> search_path_;
};

}  // namespace pgsieve::session
