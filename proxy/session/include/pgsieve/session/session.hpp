#pragma once
// One client connection as a sans-io state machine: client handshake →
// upstream login → relay. The driver (net/) asks next() what to do, does it
// with real sockets, and reports back; the session never touches a socket,
// so every path is unit-tested by scripting bytes in and out.
//
// The session is small parts, each owning its state (proxy/session/src): the
// client handshake, the upstream login, the statement registry, the
// enforcer, the in-flight queue, the result limit and the audit recorder.
// It takes one configuration snapshot at accept and uses it for everything
// connection-level (TLS, limits, upstream endpoint and login); decisions
// read the current policy generation.

#include <pgsieve/audit/records.hpp>
#include <pgsieve/audit/sink.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/session/analysis.hpp>
#include <pgsieve/session/approvals.hpp>
#include <pgsieve/session/budgets.hpp>
#include <pgsieve/session/cancel_registry.hpp>
#include <pgsieve/session/connection_limits.hpp>
#include <pgsieve/session/in_flight.hpp>
#include <pgsieve/session/metrics.hpp>
#include <pgsieve/session/policy_snapshot.hpp>
#include <pgsieve/session/result_mask.hpp>
#include <pgsieve/session/statement_registry.hpp>
#include <pgsieve/wire/frontend.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsieve::session {

enum class action {
    read_client,             // read into client_input(), then call on_client_data()
    write_client,            // write and clear client_output()
    client_tls_handshake,    // TLS server handshake on the client socket, then on_client_tls()
    connect_upstream,        // TCP connect to upstream_endpoint(), then on_upstream_connected()
    write_upstream,          // write and clear upstream_output()
    read_upstream,           // read into upstream_input(), then call on_upstream_data()
    upstream_tls_handshake,  // TLS client handshake with upstream, then on_upstream_tls()
    forward_cancel,          // send cancel_request() to cancel_destination(), then close
    forward_cancel_to_peers, // a key another replica issued: send it (forwarded) to config().cluster.peers, then close
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
    budget_ledger budgets;  // every client's use of its budgets on this replica
    approval_book approvals;  // tickets of writes held for approval, as this replica knows them
    // A new ticket (its approval_requested detail, JSON): the policy's
    // webhook is told, and a fleet's central store; queued, never blocking
    // the session. May be empty.
    std::function<void(const config::approval_rule* rule, const std::string& ticket, std::string detail)> ticket_opened;
};

// keep_going: read on; analyse: run take_analysis_job() off this thread,
// report it (on_analysis / on_analysis_timeout), then call relay_client()
// again before reading more; wait_upstream: max_in_flight_requests await
// replies: call relay_client() again (before reading more) once
// relay_upstream() has run; close: stop relaying.
enum class relay_status { keep_going, analyse, wait_upstream, close };

class client_handshake;
class enforcer;
class result_limit;
class write_limit;
class audit_recorder;
class upstream_login;


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

    // `channel_binding`: the tls-server-end-point data of the connection
    // (the server certificate's hash), for SCRAM-SHA-256-PLUS.
    void on_client_tls(bool ok, std::string channel_binding = {});
    void on_upstream_connected(bool ok, std::string_view error);
    void on_upstream_tls(bool ok, std::string_view error);
    // The client vanished: nothing more to say.
    void on_disconnect() { state_ = state::closed; }
    // The upstream closed the connection during relay: the client learns why,
    // unless PostgreSQL's own FATAL already told it.
    void on_upstream_closed();

    // Steady state, one call per read on each side. On close, a FATAL for
    // the client (if any) is in take_final_client_output().
    relay_status relay_client(clock::time_point now);
    relay_status relay_upstream(clock::time_point now);
    // After relay_client() said wait_upstream: whether it still must wait
    // for relay_upstream() to run (else call relay_client() again now).
    bool waiting_for_upstream() const;
    std::string take_final_client_output() { return std::move(final_client_out_); }
    // relay_status::analyse: the statement to analyse elsewhere, then its result.
    std::optional<analysis_job> take_analysis_job();
    void on_analysis(analysis_result result);
    void on_analysis_timeout(std::chrono::milliseconds limit);
    // After relay_upstream(): an approved write's use to claim in the
    // central store (a fleet), then the store's answer — nullopt when this
    // session took it, else why not — and relay_upstream() again.
    std::optional<approval_claim> take_approval_claim();
    void on_approval_claim(std::optional<std::string> refused);
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
    void refuse_at_startup(std::string_view sqlstate, std::string message);

    // Facts for logs and for the driver.
    const std::string& client_name() const;
    const std::string& application_name() const;
    bool client_tls() const;
    bool authenticated() const { return state_ == state::relay; }
    bool closing() const { return state_ == state::closing || state_ == state::closed; }
    // Nothing awaiting a reply. (client_input() is not looked at: the driver
    // sizes it for the read it has pending.)
    bool idle() const { return in_flight_.empty(); }
    // The configuration this connection took at accept.
    const config::config& config() const { return *cfg_; }
    const wire::cancel_request& cancel_request() const;
    const cancel_target& cancel_destination() const { return cancel_target_; }
    const std::string& close_reason() const { return close_reason_; }
    const statement_registry& registry() const { return registry_; }

private:
    enum class state {
        handshake,
        client_tls,
        upstream_connect,
        upstream_login,
        relay,
        cancel,
        cancel_peers,
        closing,
        closed,
    };

    std::optional<action> step_handshake();
    action next_upstream();
    void upstream_failed(std::string why);
    void upstream_ready();
    // A write held for approval was counted: opens its ticket, records it
    // and tells the policy's webhook (relay.cpp).
    void open_ticket(approval_request counted);
    // The current configuration's mask key and texts for a policy.
    mask_settings mask_settings_of(const std::string& policy);
    std::optional<mask_settings> result_mask_settings_;  // for the result being relayed
    // Applies what an upstream message ended to the registry and the audit.
    void settle_outcomes(std::size_t first_new, const std::optional<settled>& settled);

    std::shared_ptr<const config::config> cfg_;
    shared_state& shared_;
    state state_ = state::handshake;

    std::string client_in_, client_out_, upstream_in_, upstream_out_, final_client_out_;

    std::unique_ptr<client_handshake> handshake_;
    std::unique_ptr<upstream_login> login_;
    statement_registry registry_;
    std::unique_ptr<enforcer> enforcer_;
    in_flight in_flight_;
    std::unique_ptr<result_limit> limit_;
    std::unique_ptr<write_limit> write_limit_;
    // What a write under max_rows_written sends upstream next, moved into
    // upstream_out_ by relay_client() (the driver may be writing upstream_out_).
    std::string pending_upstream_;
    std::unique_ptr<audit_recorder> audit_;

    std::optional<wire::backend_key> proxy_key_;
    cancel_target cancel_target_;
    std::vector<outcome> outcomes_;
    std::string close_reason_;
    std::string close_sqlstate_;  // of the FATAL that ended the session, if any
    std::string peer_;
    bool refusal_recorded_ = false;

    // Relay state (relay.cpp).
    std::uint64_t desyncs_seen_ = 0;
    bool transaction_failed_ = false;  // an error since the last idle ReadyForQuery
    bool upstream_said_fatal_ = false;  // PostgreSQL's own FATAL was relayed
    // A large DataRow or CopyData passing through without being buffered whole.
    std::size_t stream_remaining_ = 0;
    bool stream_dropping_ = false;
    bool analysis_pending_ = false;  // relay_client() stopped at a message awaiting analysis
    // The client's rows and bytes budgets left for the result being relayed
    // (read when the request at the front changes, or after a charge).
    std::uint64_t budget_seq_ = 0;
    bool budget_stale_ = true;
    std::uint64_t budget_rows_left_ = UINT64_MAX;
    std::uint64_t budget_bytes_left_ = UINT64_MAX;
};

}  // namespace pgsieve::session
