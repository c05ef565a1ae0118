#pragma once
// Carries out one session's actions with real sockets: the only place a
// client connection touches the network.

#include "analysis_pool.hpp"
#include "asio.hpp"
#include "cancel_forward.hpp"
#include "fleet_approvals.hpp"
#include "stream.hpp"

#include <pgsieve/config/config.hpp>
#include <pgsieve/session/session.hpp>

#include <atomic>
#include <list>
#include <memory>
#include <optional>

namespace pgsieve::net {

// What every connection of a server shares.
struct server_context {
    std::shared_ptr<const config::config> cfg;  // as at start: listen settings, TLS
    session::shared_state shared;               // shared.policies: the current configuration and catalog
    std::unique_ptr<asio::ssl::context> client_tls;    // null without listen.tls
    std::unique_ptr<asio::ssl::context> upstream_tls;  // null with sslmode: disable
    std::unique_ptr<analysis_pool> analysis;           // long statements are parsed and decided there
    std::unique_ptr<cancel_forwarder> forwarder;       // null without cluster.peers
    std::unique_ptr<fleet_approvals> approval_store;  // null without the central audit store
    std::atomic<int> connections{0};
};

class connection : public std::enable_shared_from_this<connection> {
public:
    // `live` is the owning worker thread's list, for shutdown.
    connection(tcp::socket socket, server_context& context, std::list<connection*>& live);
    ~connection();

    awaitable<void> run();
    // Ends the session with a FATAL (shutdown): safe to call on its own thread only.
    void terminate(std::string_view sqlstate, std::string message);

private:
    awaitable<void> drive();
    awaitable<void> relay();
    awaitable<void> client_to_upstream();
    // Relays what the client sent; a statement awaiting analysis first goes
    // to the analysis pool. False when the session ends.
    awaitable<bool> relay_client_input();
    awaitable<void> upstream_to_client();
    awaitable<void> connect_upstream();
    awaitable<void> forward_cancel();
    awaitable<void> forward_cancel_to_peers();
    awaitable<void> watchdog();
    void cancel_io();
    void release_slot();
    // Moves the session's new audit records onto audit_backlog_.
    void take_audit_records();
    // Hands the backlog to the sink; with on_overflow: wait and a full queue,
    // waits for room without holding the thread.
    awaitable<void> submit_audit();

    server_context& context_;
    std::list<connection*>& live_;
    std::list<connection*>::iterator live_entry_;
    stream client_;
    std::optional<stream> upstream_;
    std::shared_ptr<asio::steady_timer> analysis_wait_;  // while a statement is analysed off this thread
    std::shared_ptr<asio::steady_timer> claim_wait_;     // while the central store is asked for an approval's use
    session::session session_;
    std::string peer_;
    asio::steady_timer timer_;
    // The client side waits on it while max_in_flight_requests await replies;
    // the upstream side cancels it when replies came.
    asio::steady_timer upstream_progress_;
    bool waiting_for_upstream_ = false;
    asio::steady_timer audit_room_;
    std::vector<audit::record> audit_backlog_;  // records the audit queue had no room for yet
    session::clock::time_point started_;
    session::clock::time_point last_client_activity_;
    std::uint64_t statements_ = 0;
    bool holds_slot_ = true;  // counted in server_context::connections
    bool started_relay_ = false;
    bool done_ = false;
};

}  // namespace pgsieve::net
