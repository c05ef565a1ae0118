#pragma once
// The server's side of writes held for approval (session/approvals.hpp), on
// a thread of its own: on a single replica it reads the decisions `pgsieve
// approve` writes into the audit file (every half second) and applies them
// to the replica's tickets (a fleet's are the central store's:
// fleet_approvals.hpp); and it tells each policy's webhook of new tickets — a JSON body
// signed with HMAC-SHA-256 of the policy's webhook secret in
// X-Pgsieve-Signature: sha256=HEX — without ever blocking a session.

#include <pgsieve/audit/approvals.hpp>
#include <pgsieve/audit/sink.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/session/approvals.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace pgsieve::net {

class approval_desk {
public:
    // `read_file_decisions`: false in a fleet, whose decisions are the
    // central store's (fleet_approvals), not any replica's file.
    approval_desk(std::string audit_path, session::approval_book& book, audit::sink* audit, bool read_file_decisions);
    ~approval_desk();
    approval_desk(const approval_desk&) = delete;
    approval_desk& operator=(const approval_desk&) = delete;

    void start();
    void stop();
    // Queues a webhook call (at most max_queued; more are dropped and logged).
    void notify(const config::approval_rule& rule, std::string body);

    static constexpr std::size_t max_queued = 1000;

private:
    void run();
    void apply_decisions();
    struct call {
        config::http_endpoint to;
        std::string secret;
        std::string body;
    };
    void send(const call& c);

    std::string audit_path_;
    session::approval_book& book_;
    audit::sink* audit_;
    bool read_file_decisions_;
    std::int64_t last_decision_ = 0;
    std::optional<audit::approval_decisions> reader_;  // kept open between polls
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<call> calls_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pgsieve::net
