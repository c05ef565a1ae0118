// What a session tells the audit log (DESIGN.md §4): its start and end, a
// statement record for every statement that ran or was refused, and an
// event when a startup is refused.

#include <pgsieve/session/session.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

std::string_view protocol_of(request_kind k) {
    switch (k) {
        case request_kind::query: return "simple";
        case request_kind::function_call: return "function_call";
        default: return "extended";
    }
}

}  // namespace

void session::audit_outcome(const outcome& o, sys_time now) {
    switch (o.kind) {
        case request_kind::query:
        case request_kind::function_call:
            break;
        case request_kind::parse:
        case request_kind::bind:
            // Recorded when they are refused or fail; otherwise the Execute is the statement.
            if (!o.refused && !o.error) return;
            break;
        case request_kind::execute:
            if (o.skipped && !o.refused) return;  // never ran: an earlier message failed
            break;
        default:
            return;  // Describe, Close, Sync: no statement of their own
    }
    audit::statement s;
    s.session_id = audit_id_;
    s.ts = now;
    s.client = user_;
    s.policy = client_ ? client_->policy : "";
    s.protocol = protocol_of(o.kind);
    if (o.kind != request_kind::query) s.statement_name = o.name;
    s.sql = o.sql;
    s.application_name = application_name_;
    s.command_tag = o.command_tag;
    s.rows = o.rows;
    s.bytes = o.bytes;
    s.duration_us = static_cast<std::uint64_t>(o.duration.count());
    if (const auto* d = o.decision.get()) {
        // One record per statement of a multi-statement Query, each with its own text.
        s.policy_version = d->policy_version;
        if (o.kind == request_kind::query && !o.refused && o.statement_index < d->parts.size()) {
            const auto& part = d->parts[o.statement_index];
            s.sql = part.text;
            s.tables = part.tables;
            s.columns = part.columns;
        } else {
            s.tables = d->tables;
            s.columns = d->columns;
        }
        if (o.refused || d->would_block) {
            s.outcome = o.refused ? audit::verdict::blocked : audit::verdict::would_block;
            s.reason = d->message;
            s.rule = std::string(policy::to_string(d->rule));
        }
    }
    if (o.refused) {
        s.sqlstate = o.decision && !o.decision->sqlstate.empty() ? o.decision->sqlstate : "42501";
        s.error = s.reason;
        s.command_tag.clear();
        s.rows = s.bytes = 0;
    } else if (o.truncated) {
        s.sqlstate = "54000";
        s.error = fmt::format("pgsieve: result exceeds max_rows={}; add a LIMIT", max_rows_);
        s.rows = std::min(s.rows, max_rows_);
        audit_.emplace_back(audit::event{now, audit_id_, "limit_hit",
                                         fmt::format(R"({{"limit":"max_rows","value":{},"rows":{}}})", max_rows_, o.rows)});
    } else if (o.error) {
        s.sqlstate = o.error->sqlstate;
        s.error = o.error->message;
        if (o.redacted) s.error += " [pgsieve withheld the server's DETAIL from the client]";
    }
    shared_.metrics.count_statement(s.policy, audit::to_string(s.outcome));
    if (!o.refused) shared_.metrics.upstream.observe(o.duration);
    audit_.emplace_back(std::move(s));
}

std::vector<audit::record> session::take_audit_records(sys_time now) {
    for (const auto& o : outcomes_) audit_outcome(o, now);
    outcomes_.clear();
    return std::exchange(audit_, {});
}

void session::on_closed(sys_time now, std::string_view reason) {
    if (std::exchange(audit_closed_, true)) return;
    in_flight_.abandon(clock::now(), outcomes_);
    for (const auto& o : outcomes_) audit_outcome(o, now);
    outcomes_.clear();
    std::string why(reason.empty() ? std::string_view(close_reason_) : reason);
    if (audit_started_) {
        audit_.emplace_back(audit::session_ended{audit_id_, now, why.empty() ? "client disconnected" : why});
        return;
    }
    if (close_sqlstate_.empty()) return;  // e.g. a TLS probe, a cancel request, a client that gave up
    auto detail = audit::detail_json({{"user", user_},
                                      {"database", database_},
                                      {"application_name", application_name_},
                                      {"client_addr", peer_},
                                      {"sqlstate", close_sqlstate_},
                                      {"reason", why}});
    // 28P01: a wrong password or an unknown user, which look the same to the client.
    if (close_sqlstate_ == "28P01") ++shared_.metrics.auth_failures;
    else ++shared_.metrics.startups_refused;
    audit_.emplace_back(audit::event{now, 0, close_sqlstate_ == "28P01" ? "auth_failed" : "startup_refused",
                                     std::move(detail)});
}

}  // namespace pgsieve::session
