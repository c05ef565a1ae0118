#pragma once
// What a session tells the audit log (DESIGN.md §4): its start and end, a
// statement record for every statement that ran, was refused or was skipped,
// and an event when a startup is refused.

#include <pgsieve/audit/records.hpp>
#include <pgsieve/session/in_flight.hpp>
#include <pgsieve/session/metrics.hpp>

#include <string>
#include <vector>

namespace pgsieve::session {

struct shared_state;

class audit_recorder {
public:
    explicit audit_recorder(shared_state& shared) : shared_(shared) {}

    struct identity {
        std::string client;
        std::string policy;
        std::string application_name;
        std::string database;
        std::string client_addr;
        std::string attributes;  // the bound attributes as a JSON object
        bool tls = false;
    };
    // The session reached the relay: it has an audit id from now on.
    void started(identity who, sys_time now);
    bool has_started() const { return started_; }
    // One finished request or statement; ignored when it is not a statement of its own.
    void outcome(const pgsieve::session::outcome& o, sys_time now);
    void ended(sys_time now, std::string_view reason);
    // An event of this session's (a ticket opened for a held write…); `detail` is a JSON object.
    void event(sys_time now, std::string kind, std::string detail) {
        records_.emplace_back(audit::event{now, id_, std::move(kind), std::move(detail)});
    }
    // A startup refused before the relay (failed login, refused parameter…).
    void refused_startup(sys_time now, const identity& who, std::string_view sqlstate, std::string_view reason);

    std::vector<audit::record> take() { return std::exchange(records_, {}); }

private:
    shared_state& shared_;
    identity who_;
    std::uint64_t id_ = 0;
    bool started_ = false;
    bool ended_ = false;
    std::vector<audit::record> records_;
    // This session's statement counters (metrics), for the policy last counted.
    metrics::statement_counts* counts_ = nullptr;
    std::string counted_policy_;
};

}  // namespace pgsieve::session
