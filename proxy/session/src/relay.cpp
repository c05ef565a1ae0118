// The steady state: messages framed (not decoded) in both directions; the
// few the proxy acts on are read, decided (enforcer.cpp) and queued in
// flight. Large rows stream through without being buffered whole.

#include "audit_recorder.hpp"
#include "client_handshake.hpp"
#include "enforcer.hpp"
#include "result_limit.hpp"
#include "write_limit.hpp"

#include <pgsieve/common/hex.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/session/result_mask.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/session/startup_parameters.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

// PostgreSQL never sends a message above MaxAllocSize.
constexpr std::uint32_t max_upstream_message_bytes = 1u << 30;
// A DataRow or CopyData longer than this passes through as it arrives rather
// than being buffered whole: a 150 MB value costs pgsieve a few reads' worth.
constexpr std::size_t stream_above_bytes = 64 * 1024;
// A DataRow with masked columns is rewritten whole: held up to this long.
constexpr std::size_t mask_hold_bytes = 1024 * 1024;

// Moves `in[0, n)` to the end of `out` — by swapping the buffers when that
// is all of `in` and `out` is empty, the common case.
void move_prefix(std::string& in, std::size_t n, std::string& out) {
    if (n == 0) return;
    if (n == in.size() && out.empty()) {
        std::swap(in, out);
        return;
    }
    out.append(in, 0, n);
    in.erase(0, n);
}

// Messages PostgreSQL answers, each an in-flight request.
bool answered(char type) {
    namespace fe = wire::frontend;
    switch (type) {
        case fe::query: case fe::parse: case fe::bind: case fe::execute: case fe::describe: case fe::close:
        case fe::sync: case fe::function_call:
            return true;
        default:
            return false;
    }
}

bool known_frontend_type(char type) {
    namespace fe = wire::frontend;
    switch (type) {
        case fe::query: case fe::parse: case fe::bind: case fe::execute: case fe::describe: case fe::close:
        case fe::sync: case fe::function_call: case fe::flush: case fe::copy_data: case fe::copy_done:
        case fe::copy_fail: case fe::terminate:
            return true;
        default:
            return false;
    }
}

}  // namespace

bool session::waiting_for_upstream() const {
    return pending_upstream_.empty() && (write_limit_->active() || in_flight_.size() >= max_in_flight_requests);
}

relay_status session::relay_client(clock::time_point now) {
    // What a write in lockstep sends next (write_limit.hpp).
    upstream_out_ += std::exchange(pending_upstream_, {});
    if (write_limit_->active()) return relay_status::wait_upstream;
    const std::string_view input = client_in_;
    std::size_t consumed = 0;
    std::size_t forwarded = 0;  // input before this was copied to upstream_out_ already
    bool terminate = false;
    bool waiting_for_upstream = false;
    while (!terminate) {
        const auto r = wire::decode_frame(input.substr(consumed), static_cast<std::uint32_t>(cfg_->listen.max_message_bytes));
        if (r.status == wire::decode_status::need_more) break;
        if (r.status == wire::decode_status::error) {
            fail(wire::sqlstate::protocol_violation, "pgsieve: " + r.error);
            return relay_status::close;
        }
        const wire::frame& f = r.message;
        if (!known_frontend_type(f.type)) {
            fail(wire::sqlstate::protocol_violation,
                 fmt::format("pgsieve: invalid frontend message type {}", static_cast<int>(f.type)));
            return relay_status::close;
        }
        if (answered(f.type) && in_flight_.size() >= max_in_flight_requests) {
            waiting_for_upstream = true;
            break;
        }
        auto d = enforcer_->decide(f, now);
        if (d.deferred) {
            // A long statement is analysed off this thread first; this message
            // and those after it wait (the driver calls relay_client() again).
            analysis_pending_ = true;
            break;
        }
        terminate = f.type == wire::frontend::terminate;
        if (!d.malformed.empty()) {
            fail(wire::sqlstate::protocol_violation, "pgsieve: " + d.malformed);
            return relay_status::close;
        }
        if (d.req && !d.refused && d.req->decision &&
            (d.req->decision->max_rows_written > 0 || d.req->approval != request::approval_step::none) &&
            (f.type == wire::frontend::query || f.type == wire::frontend::execute)) {
            // A write under max_rows_written, or held for approval: sent in
            // lockstep (write_limit.hpp sends a scoped text itself), the
            // client's next messages wait until PostgreSQL said how many rows
            // it changed.
            upstream_out_.append(input.substr(forwarded, consumed - forwarded));
            const auto finished = outcomes_.size();
            for (auto& r : write_limit_->begin(f, std::move(*d.req), upstream_out_))
                in_flight_.push(std::move(r), now, outcomes_);
            write_limit_->settle(outcomes_, finished);  // skipped at once after an earlier error
            consumed += f.size;
            forwarded = consumed;
            if (write_limit_->active()) {
                waiting_for_upstream = true;
                break;
            }
            continue;
        }
        if (!d.substitute.empty()) {
            // Forward what came before, then the substitute in this message's place.
            upstream_out_.append(input.substr(forwarded, consumed - forwarded));
            upstream_out_ += d.substitute;
            forwarded = consumed + f.size;
        }
        if (d.req) in_flight_.push(std::move(*d.req), now, outcomes_);
        consumed += f.size;
    }
    if (forwarded == 0) {
        move_prefix(client_in_, consumed, upstream_out_);
    } else {
        upstream_out_.append(input.substr(forwarded, consumed - forwarded));
        client_in_.erase(0, consumed);
    }
    if (terminate) {
        close_reason_ = "client sent Terminate";
        state_ = state::closing;
        return relay_status::close;
    }
    if (analysis_pending_) return relay_status::analyse;
    return waiting_for_upstream ? relay_status::wait_upstream : relay_status::keep_going;
}

std::optional<analysis_job> session::take_analysis_job() { return enforcer_ ? enforcer_->take_job() : std::nullopt; }

void session::on_analysis(analysis_result result) {
    analysis_pending_ = false;
    if (enforcer_) enforcer_->on_analysis(std::move(result));
}

void session::on_analysis_timeout(std::chrono::milliseconds limit) {
    analysis_pending_ = false;
    if (enforcer_) enforcer_->on_analysis_timeout(limit);
}

void session::settle_outcomes(std::size_t first_new, const std::optional<settled>& s) {
    // What the finished statements used of the client's budgets: rows and
    // bytes sent, and their time.
    if (enforcer_ && first_new < outcomes_.size()) {
        const auto budgets = enforcer_->budgets();
        for (std::size_t i = budgets.empty() ? outcomes_.size() : first_new; i < outcomes_.size(); ++i) {
            const auto& o = outcomes_[i];
            if (o.refused || !o.decision) continue;
            const bool cut = o.truncated || o.capped || o.over_budget;
            const std::uint64_t rows = cut ? o.rows_sent : o.bytes > 0 ? o.rows : 0;
            shared_.budgets.charge_result(client_name(), budgets, rows, o.bytes,
                                          static_cast<std::uint64_t>(std::max<std::int64_t>(0, o.duration.count())));
            budget_stale_ = true;
        }
    }
    for (std::size_t i = first_new; i < outcomes_.size(); ++i) {
        const auto& o = outcomes_[i];
        if (o.error || o.refused || o.rolled_back) transaction_failed_ = true;
        // PostgreSQL did what the request asked: its registry changes take effect.
        if (!o.error && !o.skipped && !o.refused) registry_.confirm(o.ticket);
        if (o.command_tag == "ROLLBACK") transaction_failed_ = true;
    }
    if (!s) return;
    registry_.settle(s->last_ticket);
    if (s->transaction_status == 'I') {
        registry_.end_transaction(transaction_failed_);
        transaction_failed_ = false;
    } else if (s->transaction_status == 'E') {
        transaction_failed_ = true;
    }
}

relay_status session::relay_upstream(clock::time_point now) {
    namespace be = wire::backend;
    const std::string_view input = upstream_in_;
    std::size_t consumed = 0;
    std::size_t forwarded = 0;
    // A large row passing through: relay (or drop) what arrived of it.
    const auto pass_through = [&](std::size_t n, bool drop) {
        if (drop) {
            client_out_.append(input.substr(forwarded, consumed - forwarded));
            forwarded = consumed + n;
        }
        consumed += n;
    };
    for (;;) {
        if (stream_remaining_ > 0) {
            const std::size_t n = std::min(stream_remaining_, input.size() - consumed);
            if (n == 0) break;
            pass_through(n, stream_dropping_);
            stream_remaining_ -= n;
            continue;
        }
        const auto rest = input.substr(consumed);
        const auto r = wire::decode_frame(rest, max_upstream_message_bytes);
        const request* front = in_flight_.front();
        // Masked columns (result_mask.hpp): the result's decision, or a described statement's.
        const policy::decision* masks = front ? (front->masking ? front->masking.get() : front->decision.get()) : nullptr;
        if (masks && (masks->masked.empty() || front->refused)) masks = nullptr;
        // The reply to a write in lockstep passes through write_limit.
        const bool held = write_limit_->active() && front && (front->internal || front->write_limited);
        if (front && front->decision && !held) {
            const auto& d = *front->decision;
            std::uint64_t rows = front->budget_rows, bytes = front->budget_bytes;
            if (rows != UINT64_MAX || bytes != UINT64_MAX) {
                // What is left of the client's budgets is read as each
                // result starts, after the results before it were charged:
                // pipelined statements, all sent at once, cannot each use
                // the whole of it.
                if (front->seq != budget_seq_ || budget_stale_) {
                    const auto left = shared_.budgets.left(client_name(), enforcer_->budgets());
                    budget_rows_left_ = left.rows;
                    budget_bytes_left_ = left.bytes;
                    budget_seq_ = front->seq;
                    budget_stale_ = false;
                }
                rows = budget_rows_left_;
                bytes = budget_bytes_left_;
            }
            limit_->limit({d.max_rows, d.max_result_bytes, d.truncate, rows, bytes});
        } else {
            limit_->limit({});
        }
        if (r.status == wire::decode_status::need_more) {
            // A large DataRow or CopyData is relayed as it arrives.
            if (rest.size() >= wire::frame_header_bytes && (rest[0] == be::data_row || rest[0] == be::copy_data)) {
                const std::size_t size = 1 + static_cast<std::uint32_t>(wire::load_int32(rest.data() + 1));
                if (size > stream_above_bytes && size <= max_upstream_message_bytes + 1u) {
                    if (masks && rest[0] == be::data_row) {
                        // Masked values are rewritten whole: the row is held (read on), up to a bound.
                        if (size <= mask_hold_bytes) break;
                        fail(wire::sqlstate::program_limit_exceeded,
                             fmt::format("pgsieve: a row of this result is {} bytes, more than pgsieve holds to mask "
                                         "its columns ({} bytes); select fewer or shorter columns",
                                         size, mask_hold_bytes));
                        return relay_status::close;
                    }
                    const auto finished = outcomes_.size();
                    in_flight_.on_backend_message(rest[0], {}, size, now, outcomes_);
                    settle_outcomes(finished, std::nullopt);
                    stream_dropping_ = limit_->on_message(rest[0], size) == result_limit::verdict::drop;
                    if (held) {
                        // A write's RETURNING row too long to hold: dropped, and the write not committed.
                        write_limit_->on_row_not_held();
                        stream_dropping_ = true;
                    }
                    stream_remaining_ = size;
                    continue;
                }
            }
            break;
        }
        if (r.status == wire::decode_status::error) {
            fail(wire::sqlstate::connection_failure, "pgsieve: the upstream server sent an invalid message");
            return relay_status::close;
        }
        const wire::frame& f = r.message;
        // What this message makes the relay send, from here: given to write_limit.
        std::size_t held_from = 0;
        if (held) {
            client_out_.append(input.substr(forwarded, consumed - forwarded));
            forwarded = consumed;
            held_from = client_out_.size();
        }
        bool truncated = false;
        bool capped = false;
        bool over_budget = false;
        bool redacted = false;
        // max_rows, max_result_bytes: rows beyond a limit are dropped; the
        // completion becomes ERROR 54000, or (on_exceed: truncate) a NOTICE
        // and the count of the rows sent.
        switch (limit_->on_message(f.type, f.size)) {
            case result_limit::verdict::pass: break;
            case result_limit::verdict::drop:
                client_out_.append(input.substr(forwarded, consumed - forwarded));
                forwarded = consumed + f.size;
                break;
            case result_limit::verdict::end_over:
                client_out_.append(input.substr(forwarded, consumed - forwarded));
                client_out_ += limit_->error_response();
                forwarded = consumed + f.size;
                truncated = true;
                break;
            case result_limit::verdict::end_truncated: {
                client_out_.append(input.substr(forwarded, consumed - forwarded));
                std::string_view tag;  // empty for a PortalSuspended
                if (f.type == be::command_complete)
                    if (const auto parsed = wire::parse_command_complete(f.body)) tag = *parsed;
                client_out_ += limit_->truncated_completion(tag, front && front->decision ? front->decision->policy : "");
                forwarded = consumed + f.size;
                capped = true;
                break;
            }
            case result_limit::verdict::end_budget: {
                client_out_.append(input.substr(forwarded, consumed - forwarded));
                wire::error_fields e;
                e.sqlstate = std::string(wire::sqlstate::configuration_limit_exceeded);
                const auto kind = limit_->budget_cut_by_rows() ? config::budget_kind::rows : config::budget_kind::bytes;
                e.message = shared_.budgets.cut_message(client_name(), enforcer_->budgets(), kind);
                e.detail = fmt::format("rule: budgets.{} (the rows after the first {} were not returned)",
                                       config::to_string(kind), limit_->rows_sent());
                e.hint = "wait for the reset, or ask the policy's owner for a larger budget";
                wire::write_error_response(client_out_, e);
                forwarded = consumed + f.size;
                over_budget = true;
                break;
            }
        }
        if (f.type == be::error_response && front && !front->refused && front->decision) {
            const auto& d = *front->decision;
            // Integrity errors print the failing row or key (DETAIL), and
            // function contexts can quote values (WHERE): not for a client
            // whose policy hides some columns of the tables involved.
            const bool redact = d.redact_errors && wire::error_has_field(f.body, "DW");
            // A scoped statement's positions are in the text pgsieve sent, not the client's.
            const bool scoped = !d.scoped_sql.empty() && wire::error_has_field(f.body, "Pp");
            if (redact || scoped) {
                const auto rewritten = wire::rewrite_error_response(
                    f.type, f.body, std::string(redact ? "DW" : "") + (scoped ? "Ppq" : ""),
                    redact ? fmt::format("pgsieve: the server's detail was withheld: it may show values of columns "
                                         "policy \"{}\" does not allow",
                                         d.policy)
                           : std::string());
                if (rewritten) {
                    client_out_.append(input.substr(forwarded, consumed - forwarded));
                    client_out_ += *rewritten;
                    forwarded = consumed + f.size;
                    redacted = redact;
                }
            }
        }
        if (f.type == be::error_response && front && front->refused && front->decision) {
            // The substitute's error: say why pgsieve refused instead.
            const auto& d = *front->decision;
            client_out_.append(input.substr(forwarded, consumed - forwarded));
            wire::error_fields e;
            e.sqlstate = d.sqlstate.empty() ? std::string(wire::sqlstate::insufficient_privilege) : d.sqlstate;
            // MCP servers hand the model only the error's message, so the
            // hint travels in it too (and, for people, in HINT as usual).
            e.message = d.hint.empty() ? d.message : fmt::format("{}; hint: {}", d.message, d.hint);
            e.detail = d.detail;
            e.hint = d.hint;
            e.position = d.position;
            wire::write_error_response(client_out_, e);
            forwarded = consumed + f.size;
        }
        if (masks && !held && forwarded <= consumed &&
            (f.type == be::row_description || f.type == be::data_row)) {
            client_out_.append(input.substr(forwarded, consumed - forwarded));
            const auto body = input.substr(consumed + wire::frame_header_bytes, f.size - wire::frame_header_bytes);
            if (f.type == be::row_description) {
                bool agrees = true;
                auto description = masked_row_description(body, masks->masked, front->result_formats, agrees);
                if (!agrees) {
                    // The analysis and PostgreSQL disagree on where a masked
                    // column is (a table changed since the catalog was read?):
                    // masking by the analysis could send a raw value, here or
                    // in a later Execute of the statement. Nothing more is sent.
                    log::error("mask_disagreement", {{"client", client_name()}, {"policy", masks->policy},
                                                     {"column", masks->masked.front().column}});
                    fail(wire::sqlstate::internal_error,
                         "pgsieve: the result's columns do not match pgsieve's analysis of the masked columns in it; "
                         "the session is closed so that no value is sent unmasked",
                         "if a table changed, reconnect after pgsieve has read the catalog again");
                    return relay_status::close;
                }
                client_out_ += description;
            } else {
                // The key and texts as the result's first row found them (not looked up per row).
                if (!result_mask_settings_) result_mask_settings_ = mask_settings_of(masks->policy);
                auto row = masked_data_row(body, masks->masked, *result_mask_settings_);
                if (row.empty()) {
                    fail(wire::sqlstate::connection_failure, "pgsieve: the upstream server sent an invalid DataRow");
                    return relay_status::close;
                }
                client_out_ += row;
            }
            forwarded = consumed + f.size;
        }
        if (f.type == be::command_complete || f.type == be::portal_suspended || f.type == be::error_response ||
            f.type == be::ready_for_query)
            result_mask_settings_.reset();  // a result ended: the next one reads the configuration again
        if (f.type == be::parameter_status) {
            // A setting the analysis depends on changed under the session:
            // nothing more is sent upstream (the reply so far is relayed).
            const auto p = wire::parse_parameter_status(f.body);
            auto breach = p ? contract_breach(p->name, p->value, *handshake_->policy())
                            : std::optional<std::string>("an unreadable ParameterStatus");
            if (breach) {
                client_out_.append(input.substr(forwarded, consumed - forwarded));
                upstream_in_.erase(0, consumed + f.size);
                log::error("session_contract_broken", {{"client", client_name()}, {"reason", *breach}});
                fail(wire::sqlstate::connection_failure,
                     fmt::format("pgsieve: {}; the connection is closed", *breach),
                     "ask the database owner to remove the setting (ALTER ROLE/DATABASE … RESET), or check "
                     "the functions this statement ran");
                return relay_status::close;
            }
        }
        if (f.type == be::error_response) {
            // PostgreSQL's own FATAL: it closes next, and the client needs no second one from pgsieve.
            if (const auto e = wire::parse_error_response(f.body); e && (e->severity == "FATAL" || e->severity == "PANIC"))
                upstream_said_fatal_ = true;
        }
        if (held) {
            std::string relayed = client_out_.substr(held_from);
            if (forwarded == consumed) relayed.append(input.substr(consumed, f.size));
            client_out_.resize(held_from);
            forwarded = consumed + f.size;
            std::vector<request> sent;
            write_limit_->on_reply(f.type, f.body, relayed, client_out_, pending_upstream_, sent);
            if (write_limit_->claim_pending()) {
                // An approved write's use is being claimed in the central
                // store: its CommandComplete stays unread until the answer
                // (on_approval_claim), then is judged again.
                forwarded = consumed;
                break;
            }
            if (auto counted = write_limit_->take_count()) open_ticket(std::move(*counted));
            for (auto& r : sent) in_flight_.push(std::move(r), now, outcomes_);
        }
        const auto finished = outcomes_.size();
        const char front_kind = front ? "QPBEDCSF"[static_cast<int>(front->kind)] : '-';
        const auto s = in_flight_.on_backend_message(f.type, f.body, f.size, now, outcomes_);
        if (held) write_limit_->settle(outcomes_, finished);
        if ((truncated || capped || over_budget) && outcomes_.size() > finished) {
            auto& o = outcomes_.back();
            (capped ? o.capped : over_budget ? o.over_budget : o.truncated) = true;
            o.rows_sent = limit_->rows_sent();
            o.limit_name = limit_->limit_name();
            o.limit_value = limit_->limit_value();
        }
        if (redacted && outcomes_.size() > finished) outcomes_.back().redacted = true;
        settle_outcomes(finished, s);
        consumed += f.size;
        if (in_flight_.desyncs() != desyncs_seen_) {
            // The replies no longer match the requests: a refusal could be
            // rewritten onto the wrong one. Fail closed.
            desyncs_seen_ = in_flight_.desyncs();
            client_out_.append(input.substr(forwarded, consumed - forwarded));
            upstream_in_.erase(0, consumed);
            log::error("upstream_desync", {{"client", client_name()},
                                           {"message_type", std::string(1, f.type)},
                                           {"awaiting", std::string(1, front_kind)},
                                           {"in_flight", in_flight_.size()}});
            fail(wire::sqlstate::protocol_violation,
                 "pgsieve: the server's replies no longer match the client's requests; the connection is closed");
            return relay_status::close;
        }
    }
    if (forwarded == 0) {
        move_prefix(upstream_in_, consumed, client_out_);
    } else {
        client_out_.append(input.substr(forwarded, consumed - forwarded));
        upstream_in_.erase(0, consumed);
    }
    return relay_status::keep_going;
}

void session::on_upstream_closed() {
    if (closing()) return;
    if (upstream_said_fatal_) {
        // PostgreSQL ended the session and said why; close as it would.
        close_reason_ = "the upstream server ended the session";
        state_ = state::closing;
        return;
    }
    fail(wire::sqlstate::connection_failure, "pgsieve: the upstream server closed the connection");
}


std::optional<approval_claim> session::take_approval_claim() { return write_limit_->take_claim(); }

mask_settings session::mask_settings_of(const std::string& policy) {
    const auto snapshot = shared_.policies.current();
    const auto* p = snapshot && snapshot->cfg ? snapshot->cfg->find_policy(policy) : nullptr;
    if (!p) return {std::string(), 16, "***", nullptr};  // gone with a reload: redacted (mask_value)
    return {p->mask_key, p->mask_hash_length, p->mask_redact_text, nullptr};
}

void session::on_approval_claim(std::optional<std::string> refused) { write_limit_->claimed(std::move(refused)); }

void session::open_ticket(approval_request counted) {
    const auto snapshot = shared_.policies.current();
    const auto* c = snapshot && snapshot->cfg ? snapshot->cfg->find_client(client_name()) : nullptr;
    const auto* p = c ? snapshot->cfg->find_policy(c->policy) : nullptr;
    const auto* rule = p && p->approval ? &*p->approval : nullptr;
    const auto timeout = rule ? std::chrono::duration_cast<std::chrono::milliseconds>(rule->timeout)
                              : std::chrono::milliseconds(std::chrono::minutes(15));
    const auto now = std::chrono::system_clock::now();
    const auto replaces = std::move(counted.replaces);
    const auto t = shared_.approvals.open(std::move(counted.binding), p ? p->name : std::string(), counted.table,
                                          counted.command, counted.rows, timeout, now);
    write_limit_->opened(t);
    // What `pgsieve approve` shows the person deciding, and the webhook is told.
    std::string detail = fmt::format(
        R"({{"ticket":{},"client":{},"policy":{},"grants_version":{},"table":{},"command":{},"rows":{},)"
        R"("sql":{},"parameters":{},"bind_parameters":{},"expires_at":{},"timeout_ms":{},"approve":{})",
        log::json_string(t.id), log::json_string(t.binding.client), log::json_string(t.policy),
        log::json_string(t.binding.grants_version), log::json_string(t.table), log::json_string(t.command), t.rows,
        log::json_string(t.binding.sql), parameters_json(t.binding.parameters),
        log::json_string(to_hex(t.binding.parameters)), log::json_string(rfc3339(t.expires)), timeout.count(),
        log::json_string("pgsieve approve " + t.id));
    if (replaces)
        detail += fmt::format(R"(,"replaces":{{"ticket":{},"state":{}}})", log::json_string(replaces->id),
                              log::json_string(to_string(replaces->state)));
    detail += "}";
    audit_->event(now, "approval_requested", detail);
    log::info("approval_requested", {{"ticket", t.id}, {"client", t.binding.client}, {"table", t.table},
                                     {"command", t.command}, {"rows", t.rows}});
    if (shared_.ticket_opened) shared_.ticket_opened(rule, t.id, std::move(detail));
}

}  // namespace pgsieve::session
