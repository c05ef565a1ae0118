#pragma once
// One client connection as a sans-io state machine: startup → authentication
// → upstream login → relay. The driver (net/) asks next() what to do,
// does it with real sockets, and reports back; the session never touches a
// socket, so every path is unit-tested by scripting bytes in and out.

#include <pgsieve/audit/records.hpp>
#include <pgsieve/audit/sink.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/session/cancel_registry.hpp>
#include <pgsieve/session/connection_limits.hpp>
#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/decision_cache.hpp>
#include <pgsieve/session/in_flight.hpp>
#include <pgsieve/session/metrics.hpp>
#include <pgsieve/session/policy_snapshot.hpp>
#include <pgsieve/session/upstream_login.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pgsieve::session {

enum class action {
    read_client,             // read into client_input(), then call on_client_data()
    write_client,            // write and clear client_output()
    client_tls_handshake,    // TLS server handshake on the client socket, then on_client_tls()
    connect_upstream,        // TCP connect to the configured upstream, then on_upstream_connected()
    write_upstream,          // write and clear upstream_output()
    read_upstream,           // read into upstream_input(), then call on_upstream_data()
    upstream_tls_handshake,  // TLS client handshake with upstream, then on_upstream_tls()
    forward_cancel,          // send cancel_request() to cancel_destination(), then close
    relay,                   // authenticated: run relay_client() and relay_upstream() until one says close
    close,                   // close both sides (client_output() was already written)
};

// Process-wide things sessions share; every member is thread-safe.
struct shared_state {
    cancel_registry cancels;
    connection_limits limits;
    policy_source policies;
    // Asks for a catalog refresh soon (rate-limited by the server), when a
    // statement names something the snapshot lacks. May be empty.
    std::function<void()> catalog_missing;
    std::array<std::uint8_t, 32> mock_secret{};  // random per process: stable fake salts for unknown users
    // Where audit records go; null in unit tests (records are still made,
    // with session id 0). Consulted for audit.on_failure: block.
    audit::sink* audit = nullptr;
    session::metrics metrics;
};

enum class relay_status { keep_going, close };

class session {
public:
    session(std::shared_ptr<const config::config> cfg, shared_state& shared);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    action next();

    // Buffers the driver reads into and writes from.
    std::string& client_input() { return client_in_; }
    std::string& client_output() { return client_out_; }
    std::string& upstream_input() { return upstream_in_; }
    std::string& upstream_output() { return upstream_out_; }

    void on_client_data() {}  // bytes were appended to client_input()
    void on_upstream_data() {}
    void on_client_tls(bool ok);
    void on_upstream_connected(bool ok, std::string_view error);
    void on_upstream_tls(bool ok, std::string_view error);
    // The client vanished or the upstream closed: nothing more to say.
    void on_disconnect() { state_ = state::closed; }

    // Steady state, one call per read on each side. On close, a FATAL for
    // the client (if any) is in take_final_client_output().
    relay_status relay_client(clock::time_point now);
    relay_status relay_upstream(clock::time_point now);
    std::string take_final_client_output() { return std::move(final_client_out_); }
    // Requests finished since the last call, before they become audit records.
    std::vector<outcome> take_outcomes() { return std::exchange(outcomes_, {}); }
    // Audit records made since the last call: the session's start, its
    // statements as they finish, its end or why it was refused.
    std::vector<audit::record> take_audit_records(sys_time now);
    // The driver is done with the connection (or pgsieve is stopping): the
    // session's end, or a refused startup, becomes an audit record.
    void on_closed(sys_time now, std::string_view reason = {});
    void set_peer(std::string peer) { peer_ = std::move(peer); }

    // A FATAL the driver asks to send (limits, timeouts, shutdown).
    void fail(std::string_view sqlstate, std::string message, std::string hint = {});
    // A FATAL sent in answer to the StartupMessage, once any SSLRequest has
    // been answered, as PostgreSQL reports "too many clients" (libpq cannot
    // read an error in place of its SSL answer).
    void refuse_at_startup(std::string_view sqlstate, std::string message) {
        startup_refusal_ = {std::string(sqlstate), std::move(message)};
    }

    // Facts for logs and for the driver.
    const std::string& client_name() const { return user_; }
    const std::string& application_name() const { return application_name_; }
    bool client_tls() const { return client_tls_; }
    bool authenticated() const { return state_ == state::relay; }
    bool closing() const { return state_ == state::closing || state_ == state::closed; }
    // Nothing awaiting a reply. (client_input() is not looked at: the driver
    // sizes it for the read it has pending.)
    bool idle() const { return in_flight_.empty(); }
    const config::config& config() const { return *cfg_; }
    const wire::cancel_request& cancel_request() const { return cancel_; }
    const cancel_target& cancel_destination() const { return cancel_target_; }
    const std::string& close_reason() const { return close_reason_; }

private:
    enum class state {
        startup,
        client_tls,
        sasl_initial,
        sasl_response,
        upstream_connect,
        upstream_login,
        relay,
        cancel,
        closing,
        closed,
    };

    // Each consumes at most one frame; false when more input is needed.
    bool step_startup();
    bool step_auth();
    action next_upstream();
    void on_startup_message(wire::startup_message m);
    void on_authenticated();
    void upstream_failed(std::string why);
    void upstream_ready();
    void audit_outcome(const outcome& o, sys_time now);

    std::shared_ptr<const config::config> cfg_;
    shared_state& shared_;
    state state_ = state::startup;

    std::string client_in_, client_out_, upstream_in_, upstream_out_, final_client_out_;

    bool client_tls_ = false;
    bool ssl_requested_ = false;
    bool gssenc_requested_ = false;
    std::string user_;
    std::string database_;
    std::string application_name_;
    wire::startup_message startup_;
    const config::client* client_ = nullptr;
    const config::policy* policy_ = nullptr;
    std::optional<wire::scram::server_exchange> scram_server_;
    bool holds_client_slot_ = false;

    std::vector<std::pair<std::string, std::string>> upstream_parameters_;
    std::optional<upstream_login> login_;
    std::optional<wire::backend_key> proxy_key_;

    wire::cancel_request cancel_{};
    cancel_target cancel_target_;

    in_flight in_flight_;
    std::vector<outcome> outcomes_;
    std::string close_reason_;
    std::string close_sqlstate_;  // of the FATAL that ended the session, if any
    std::string peer_;
    std::uint64_t audit_id_ = 0;
    bool audit_started_ = false;
    bool audit_closed_ = false;
    std::vector<audit::record> audit_;
    std::optional<std::pair<std::string, std::string>> startup_refusal_;

    // Enforcement (enforce.cpp).
    struct remembered {
        std::string sql;
        std::uint64_t generation = 0;
        std::shared_ptr<const policy::decision> decision;  // while allowed: what it reads, for the audit
    };
    // Decides `sql` with the current snapshot and this client's policy.
    std::shared_ptr<const policy::decision> decide(std::string_view sql, std::uint64_t* generation);
    std::shared_ptr<const policy::decision> decide_uncounted(std::string_view sql, std::uint64_t* generation);
    // The refusal of a remembered statement, decided again after a reload;
    // null while it is still allowed.
    std::shared_ptr<const policy::decision> still_refused(remembered& r);
    // audit.on_failure: block while the audit log cannot be written; else null.
    std::shared_ptr<const policy::decision> audit_refusal(const policy_snapshot& snapshot) const;
    void apply_effects(const policy::decision& d, std::uint64_t generation);
    // The client message to forward: the original, or a substitute PostgreSQL
    // rejects at once; returns whether the request was refused.
    bool enforce(const wire::frame& f, request& req, std::string& substitute);
    // A statement or portal name this session has not created.
    std::string unused_name(std::string_view prefix) const;

    std::vector<std::string> search_path_;
    std::map<std::string, remembered> statements_;    // protocol-level prepared statements
    std::map<std::string, std::string> portals_;      // portal → its statement
    std::map<std::string, remembered> sql_prepared_;  // PREPARE name → its text
    std::map<std::string, remembered> cursors_;       // DECLARE name → its text
    policy::decision_cache cache_{256};
    // max_rows (relay.cpp): the policy's limit, rows of the current result,
    // and whether rows were dropped.
    std::uint64_t max_rows_ = 0;
    std::uint64_t result_rows_ = 0;
    bool result_truncated_ = false;
};

}  // namespace pgsieve::session
