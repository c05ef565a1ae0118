#include "audit_recorder.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/sqlstate.hpp>

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

void audit_recorder::started(identity who, sys_time now) {
    who_ = std::move(who);
    id_ = shared_.audit ? shared_.audit->new_session_id() : 0;
    started_ = true;
    audit::session_started s;
    s.id = id_;
    s.started_at = now;
    s.client = who_.client;
    s.policy = who_.policy;
    s.client_addr = who_.client_addr;
    s.application_name = who_.application_name;
    s.database = who_.database;
    s.tls = who_.tls;
    s.attributes = who_.attributes;
    records_.emplace_back(std::move(s));
}

void audit_recorder::outcome(const pgsieve::session::outcome& o, sys_time now) {
    if (o.internal) return;  // pgsieve's own message (a write under max_rows_written)
    switch (o.kind) {
        case request_kind::query:
        case request_kind::function_call:
            break;
        case request_kind::parse:
        case request_kind::bind:
        case request_kind::describe:
            // Recorded when they are refused or fail; otherwise the Execute is the statement.
            if (!o.refused && !o.error) return;
            break;
        case request_kind::execute:
            if (o.skipped && !o.refused) return;  // never ran: an earlier message failed
            break;
        default:
            return;  // Close, Sync: no statement of their own
    }
    audit::statement s;
    s.session_id = id_;
    s.ts = now;
    s.client = who_.client;
    s.policy = who_.policy;
    s.protocol = protocol_of(o.kind);
    if (o.kind != request_kind::query) s.statement_name = o.name;
    s.sql = o.sql;
    s.application_name = who_.application_name;
    s.command_tag = o.command_tag;
    s.rows = o.rows;
    s.bytes = o.bytes;
    s.duration_us = static_cast<std::uint64_t>(o.duration.count());
    if (const auto* d = o.decision.get()) {
        // The policy and version that decided, together (a reload may move a client).
        if (!d->policy.empty()) s.policy = d->policy;
        s.policy_version = d->policy_version;
        // One record per statement of a multi-statement Query, each with its own text.
        if (o.kind == request_kind::query && !o.refused && o.statement_index < d->parts.size()) {
            const auto& part = d->parts[o.statement_index];
            s.sql = part.text;
            s.tables = part.tables;
            s.columns = part.columns;
            s.row_scoped = part.row_scoped;
        } else {
            s.tables = d->tables;
            s.columns = d->columns;
            s.row_scoped = d->row_scoped;
        }
        if (!o.refused) {
            // The result's masked columns (monitor mode: what enforce would have masked).
            for (const auto& m : d->masked)
                s.masked.push_back({m.position, m.column, std::string(config::to_string(m.method)), true});
            for (const auto& m : d->would_mask)
                s.masked.push_back({m.position, m.column, std::string(config::to_string(m.method)), false});
        }
        if (o.refused || d->would_block) {
            s.outcome = o.refused ? audit::verdict::blocked : audit::verdict::would_block;
            // The reviewer sees what decided, which the client's words may not say.
            s.reason = d->internal_detail.empty() ? d->message : fmt::format("{} ({})", d->message, d->internal_detail);
            s.rule = std::string(policy::to_string(d->rule));
        } else if (!d->scoped.empty()) {
            // Scoped discovery: what the answer was limited to the policy's grant in (monitor: was not).
            s.reason = fmt::format("{}: {}",
                                   d->scoped_sql.empty() ? "monitor mode, not scoped; enforce would scope"
                                                         : "scoped to the policy's grant",
                                   fmt::join(d->scoped, ", "));
        }
    }
    if (o.refused) {
        s.sqlstate = o.decision && !o.decision->sqlstate.empty() ? o.decision->sqlstate
                                                                 : std::string(wire::sqlstate::insufficient_privilege);
        s.error = s.reason;
        s.command_tag.clear();
        s.rows = s.bytes = 0;
    } else if (o.skipped) {
        s.error = "not run: PostgreSQL skipped it after an earlier error in the same pipeline";
        s.command_tag.clear();
    } else if (o.truncated) {
        s.sqlstate = std::string(wire::sqlstate::program_limit_exceeded);
        s.error = fmt::format("pgsieve: result exceeds {}={}", o.limit_name, o.limit_value);
        s.rows = o.rows_sent;
        records_.emplace_back(audit::event{now, id_, "limit_hit",
                                           fmt::format(R"({{"limit":"{}","value":{},"rows":{},"sent":{}}})",
                                                       o.limit_name, o.limit_value, o.rows, o.rows_sent)});
    } else if (o.rolled_back) {
        // It ran, PostgreSQL counted its rows, and pgsieve rolled it back:
        // over max_rows_written, or held for approval.
        s.outcome = audit::verdict::blocked;
        s.sqlstate = o.rollback_sqlstate;
        s.error = o.rollback_reason;
        s.reason = o.rollback_reason;
        s.rule = std::string(policy::to_string(o.rollback_rule));
        s.rows = 0;
        if (o.rollback_rule == policy::rule::guardrail)
            records_.emplace_back(audit::event{now, id_, "limit_hit",
                                               fmt::format(R"({{"limit":"{}","value":{},"command_tag":{},)"
                                                           R"("rolled_back":true}})",
                                                           o.limit_name, o.limit_value, log::json_string(o.command_tag))});
    } else if (o.over_budget) {
        s.sqlstate = std::string(wire::sqlstate::configuration_limit_exceeded);
        s.error = fmt::format("pgsieve: the client's rows or bytes budget ended the result after {} rows", o.rows_sent);
        s.rule = std::string(policy::to_string(policy::rule::budget));
        s.rows = o.rows_sent;
    } else if (o.capped) {
        // on_exceed: truncate: the statement succeeded with its first rows.
        s.reason = fmt::format("truncated: {} of {} rows sent ({}={})", o.rows_sent, o.rows, o.limit_name,
                               o.limit_value);
        s.rows = o.rows_sent;
        records_.emplace_back(audit::event{now, id_, "limit_hit",
                                           fmt::format(R"({{"limit":"{}","value":{},"rows":{},"sent":{},)"
                                                       R"("truncated":true}})",
                                                       o.limit_name, o.limit_value, o.rows, o.rows_sent)});
    } else if (o.error) {
        s.sqlstate = o.error->sqlstate;
        s.error = o.error->message;
        if (o.redacted) s.error += " [pgsieve withheld the server's DETAIL from the client]";
    }
    if (!o.approval_ticket.empty() && !o.rolled_back && !o.error && !o.refused) {
        // A held write that ran under its approved ticket.
        s.reason = fmt::format("approved: ticket {}", o.approval_ticket);
        records_.emplace_back(audit::event{now, id_, "approval_used",
                                           fmt::format(R"({{"ticket":{},"command_tag":{}}})",
                                                       log::json_string(o.approval_ticket),
                                                       log::json_string(o.command_tag))});
    }
    if (!counts_ || counted_policy_ != s.policy) {
        counts_ = &shared_.metrics.statements_of(s.policy);
        counted_policy_ = s.policy;
    }
    (*counts_)[metrics::verdict_index(audit::to_string(s.outcome))].fetch_add(1, std::memory_order_relaxed);
    if (!o.refused) shared_.metrics.upstream.observe(o.duration);
    records_.emplace_back(std::move(s));
}

void audit_recorder::ended(sys_time now, std::string_view reason) {
    if (!started_ || std::exchange(ended_, true)) return;
    records_.emplace_back(audit::session_ended{id_, now, reason.empty() ? "client disconnected" : std::string(reason)});
}

void audit_recorder::refused_startup(sys_time now, const identity& who, std::string_view sqlstate,
                                     std::string_view reason) {
    auto detail = audit::detail_json({{"user", who.client},
                                      {"database", who.database},
                                      {"application_name", who.application_name},
                                      {"client_addr", who.client_addr},
                                      {"sqlstate", sqlstate},
                                      {"reason", reason}});
    // 28P01: a wrong password or an unknown user, which look the same to the client.
    const bool login = sqlstate == wire::sqlstate::invalid_password;
    if (login) ++shared_.metrics.auth_failures;
    else ++shared_.metrics.startups_refused;
    records_.emplace_back(audit::event{now, 0, login ? "auth_failed" : "startup_refused", std::move(detail)});
}

}  // namespace pgsieve::session
