#pragma once
// A fleet's writes held for approval (session/approvals.hpp), kept in the
// central audit store so that a statement approved on one replica can run
// through any other. On a thread of its own, with one session to the store
// as the replica's writer role, it
// - publishes each ticket this replica opens (request_approval),
// - reads every replica's tickets, every decision and every use, in the
//   store's order (approvals_since, every half second), into the book,
// - claims an approved ticket's one use for a session whose re-run is
//   about to commit (claim_approval): the store gives it to one caller only.
// A session never blocks on it: a claim is awaited by its connection, under
// a deadline, and an unreachable store refuses the write (nothing changed).

#include "asio.hpp"

#include <pgsieve/audit/sink.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/session/approvals.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace pgsieve::net {

class fleet_approvals {
public:
    fleet_approvals(const config::upstream_settings& store, std::string instance, session::approval_book& book,
                    audit::sink* audit);
    ~fleet_approvals();
    fleet_approvals(const fleet_approvals&) = delete;
    fleet_approvals& operator=(const fleet_approvals&) = delete;

    void start();
    void stop();
    // Queues a ticket this replica opened (its approval_requested detail).
    void publish(std::string ticket, std::string detail);
    // Claims the ticket's use for the calling session: nullopt when it took
    // it, else why not (used elsewhere, not approved, the store unreachable
    // or silent for claim_timeout). `waiting` is held while the store is
    // asked, so that a closing connection can cancel it.
    awaitable<std::optional<std::string>> claim(session::approval_claim c, std::shared_ptr<asio::steady_timer>& waiting);

    static constexpr auto claim_timeout = std::chrono::seconds(5);
    static constexpr std::size_t max_queued = 1000;

private:
    struct pending_claim {
        session::approval_claim what;
        std::function<void(std::optional<std::string>)> done;
    };
    void run();
    void read_store();
    void apply(const std::vector<std::optional<std::string>>& row);

    server_client store_;
    std::string instance_;
    session::approval_book& book_;
    audit::sink* audit_;
    // The store's rows are read in seq order; a transaction that took a seq
    // and has not committed (or rolled back) leaves a gap, read past but
    // kept open for a while in case its row appears.
    std::int64_t cursor_ = 0;
    std::set<std::int64_t> seen_;  // above cursor_
    std::optional<std::chrono::steady_clock::time_point> gap_since_;
    std::string last_error_;  // why the store could not be read, last time
    // Tickets the store could not take (it was down), tried again each pass
    // while they are pending. The store thread's own.
    std::deque<std::pair<std::string, std::string>> retry_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::pair<std::string, std::string>> publishes_;
    std::deque<pending_claim> claims_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pgsieve::net
