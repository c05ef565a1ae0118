#include "write_limit.hpp"

#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/message_io.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

#include <charconv>

namespace pgsieve::session {

namespace {

// RETURNING rows held while the count is unknown, at most: a write whose
// rows pass it is rolled back rather than held whole in memory.
constexpr std::size_t max_held_bytes = 16u << 20;

// No prepared statement can have it: pgsieve never sends a Parse with it.
constexpr std::string_view failing_statement = "pgsieve: over max_rows_written";

request internal(request_kind kind, const request& of) {
    request r;
    r.kind = kind;
    r.sent = of.sent;
    r.first_ticket = of.first_ticket;
    r.internal = true;
    return r;
}

void write_flush(std::string& out) { wire::message_writer(out).begin(wire::frontend::flush).end(); }

void write_sync(std::string& out, const request& of, std::vector<request>& sent) {
    wire::message_writer(out).begin(wire::frontend::sync).end();
    sent.push_back(internal(request_kind::sync, of));
}

// A Bind PostgreSQL fails before it touches any portal: the transaction
// fails with it, and everything up to the next Sync is skipped.
void write_failing_bind(std::string& out, const request& of, std::vector<request>& sent) {
    wire::message_writer(out).begin(wire::frontend::bind).cstring("").cstring(failing_statement).int16(0).int16(0).int16(0).end();
    sent.push_back(internal(request_kind::bind, of));
}

}  // namespace

std::vector<request> write_limit::begin(const wire::frame& f, request req, std::string& upstream) {
    phase_ = phase::running;
    simple_ = f.type == wire::frontend::query;
    limit_ = req.decision->max_rows_written;  // 0: none (a write held for approval only)
    table_ = req.decision->written_table;
    held_.clear();
    completion_.clear();
    rows_seen_ = 0;
    row_not_held_ = false;
    refused_.reset();
    command_.clear();
    changed_ = 0;
    count_known_ = false;
    approval_ = req.approval;
    ticket_ = req.ticket;
    binding_ = req.binding;
    count_.reset();
    opened_.clear();
    claim_request_.reset();
    claim_pending_ = claim_answered_ = false;
    claim_refused_.reset();

    std::vector<request> out;
    if (simple_) {
        // The text PostgreSQL runs: the client's, or its scoped form.
        const std::string& sql = req.decision->scoped_sql.empty() ? req.sql : req.decision->scoped_sql;
        wire::message_writer(upstream).begin(wire::frontend::parse).cstring("").cstring(sql).int16(0).end();
        wire::message_writer(upstream).begin(wire::frontend::bind).cstring("").cstring("").int16(0).int16(0).int16(0).end();
        wire::message_writer(upstream).begin(wire::frontend::describe).byte('P').cstring("").end();
        wire::message_writer(upstream).begin(wire::frontend::execute).cstring("").int32(0).end();
        out.push_back(internal(request_kind::parse, req));
        out.push_back(internal(request_kind::bind, req));
        out.push_back(internal(request_kind::describe, req));
        req.kind = request_kind::execute;
    } else {
        wire::message_writer(upstream).begin(wire::frontend::execute).bytes(f.body).end();
    }
    write_flush(upstream);
    req.write_limited = true;
    write_ = internal(req.kind, req);
    out.push_back(std::move(req));
    return out;
}

void write_limit::on_reply(char type, std::string_view body, std::string_view relayed, std::string& client,
                           std::string& upstream, std::vector<request>& sent) {
    namespace be = wire::backend;
    const auto fail_write = [&](refusal why) {
        // Nothing of the write reaches the client; the Bind's error becomes pgsieve's.
        refused_ = std::move(why);
        held_.clear();
        write_failing_bind(upstream, write_, sent);
        if (simple_) write_sync(upstream, write_, sent);
        phase_ = phase::aborting;
    };
    switch (phase_) {
        case phase::idle:
            client.append(relayed);
            return;
        case phase::running:
            switch (type) {
                case be::parse_complete:
                case be::bind_complete:
                case be::no_data:
                    return;  // answers to pgsieve's own messages of a simple Query
                case be::data_row:
                    ++rows_seen_;
                    {
                        // Past max_rows_written the write is refused anyway: those rows are not kept.
                        const bool within = limit_ == 0 || rows_seen_ <= limit_;
                        if (within && held_.size() + relayed.size() <= max_held_bytes) held_.append(relayed);
                        else if (within) row_not_held_ = true;
                    }
                    return;
                case be::command_complete: {
                    const auto parsed = wire::parse_command_complete(body);
                    const std::string_view tag = parsed ? *parsed : std::string_view();
                    const auto space = tag.rfind(' ');
                    command_ = std::string(tag.substr(0, tag.find(' ')));
                    if (space != std::string_view::npos) {
                        const auto digits = tag.substr(space + 1);
                        const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), changed_);
                        count_known_ = r.ec == std::errc() && r.ptr == digits.data() + digits.size() &&
                                       (command_ == "INSERT" || command_ == "UPDATE" || command_ == "DELETE" ||
                                        command_ == "MERGE");
                    }
                    auto why = judge();
                    if (claim_pending_) return;  // the same CommandComplete comes again once the store answers
                    if (why) return fail_write(std::move(*why));
                    client.append(held_);
                    held_.clear();
                    if (!simple_) {
                        client.append(relayed);
                        return finish();
                    }
                    completion_.assign(relayed);
                    write_sync(upstream, write_, sent);
                    phase_ = phase::syncing;
                    return;
                }
                case be::portal_suspended:
                    return fail_write(limit_refusal("the Execute's row limit suspended it before it said how many rows "
                                                    "it changed; execute it without a row limit"));
                case be::error_response:
                    held_.clear();
                    client.append(relayed);
                    if (!simple_) return finish();
                    write_sync(upstream, write_, sent);
                    phase_ = phase::syncing;
                    return;
                case be::notice_response:
                case be::notification_response:
                    // In order with the rows, while they fit: a trigger
                    // RAISEing NOTICEs in a loop cannot grow the session.
                    if (held_.size() + relayed.size() <= max_held_bytes) held_.append(relayed);
                    return;
                default:
                    held_.append(relayed);  // RowDescription, ParameterStatus
                    return;
            }
        case phase::aborting:
            if (type != be::error_response) {
                if (type != be::notice_response) client.append(relayed);
                return;
            }
            client.append(error_response(*refused_));
            if (simple_) phase_ = phase::syncing;
            else finish();
            return;
        case phase::syncing:
            if (type == be::error_response) completion_.clear();  // the commit failed: its error instead
            if (type == be::ready_for_query) {
                client.append(completion_);
                client.append(relayed);
                return finish();
            }
            client.append(relayed);
            return;
    }
}

void write_limit::finish() {
    phase_ = phase::idle;
    held_.clear();
    completion_.clear();
}

write_limit::refusal write_limit::limit_refusal(std::string why) const {
    refusal r;
    r.sqlstate = wire::sqlstate::program_limit_exceeded;
    r.hint = count_known_ && limit_ > 0 && changed_ > limit_
                 ? fmt::format("narrow the WHERE clause so that it changes at most {} rows, or make the change in "
                               "several statements",
                               limit_)
                 : std::string("run it so that PostgreSQL can count the rows it changes");
    r.message = fmt::format("pgsieve: this {} on table \"{}\" was rolled back: {}", command_.empty() ? "write" : command_,
                            table_, why);
    r.detail = fmt::format("rule: tables.{}.max_rows_written (a write changing more rows is rolled back; in a "
                           "transaction block the transaction is aborted, as by any failed statement)",
                           table_);
    return r;
}

std::optional<write_limit::refusal> write_limit::judge() {
    if (!count_known_) return limit_refusal("its completion does not say how many rows it changed");
    if (limit_ > 0 && changed_ > limit_)
        return limit_refusal(fmt::format("it changed {} rows, more than max_rows_written={}", changed_, limit_));
    if (row_not_held_)
        return limit_refusal(fmt::format("its RETURNING rows are larger than pgsieve holds while it counts them ({} MiB "
                                         "in all, or one row streamed through)",
                                         max_held_bytes >> 20));
    const auto what = fmt::format("{} on \"{}\"", command_, table_);
    switch (approval_) {
        case request::approval_step::none:
            return std::nullopt;
        case request::approval_step::count: {
            if (changed_ == 0) return std::nullopt;  // changes nothing: nothing to approve
            count_ = approval_request{binding_, table_, command_, changed_, ticket_};
            refusal r;
            r.sqlstate = wire::sqlstate::approval_required;
            r.rule = policy::rule::approval;
            return r;  // its words once the ticket is opened (opened())
        }
        case request::approval_step::run: {
            refusal r;
            r.sqlstate = wire::sqlstate::approval_mismatch;
            r.rule = policy::rule::approval;
            r.detail = "rule: approval (an approved write runs once, changing exactly the rows approved)";
            r.hint = "run it again to ask for a new approval";
            const bool fleet = approvals_.fleet_wide();
            if (fleet) {
                // The use is the central store's to give: claimed whatever
                // the count, since a re-run that changes other rows spends
                // the ticket on every replica too.
                if (!claim_answered_) {
                    claim_pending_ = true;
                    claim_request_ = approval_claim{ticket_->id, changed_};
                    return std::nullopt;
                }
                if (claim_refused_) {
                    r.message = fmt::format("pgsieve: ticket {} for this {} cannot be used: {}; the write was rolled "
                                            "back",
                                            ticket_->id, what, *claim_refused_);
                    return r;
                }
                approvals_.mark_used(ticket_->id);
            }
            if (changed_ != ticket_->rows) {
                if (!fleet) approvals_.void_ticket(ticket_->id, fmt::format("the re-run changed {} rows", changed_));
                r.message = fmt::format("pgsieve: this {} changed {} rows, but ticket {} approved {}; it was rolled "
                                        "back and the ticket is spent",
                                        what, changed_, ticket_->id, ticket_->rows);
                return r;
            }
            if (!fleet && !approvals_.use(ticket_->id)) {
                r.message = fmt::format("pgsieve: ticket {} for this {} was used already; it was rolled back", ticket_->id,
                                        what);
                return r;
            }
            return std::nullopt;
        }
    }
    return std::nullopt;
}

void write_limit::claimed(std::optional<std::string> refused) {
    claim_pending_ = false;
    claim_answered_ = true;
    claim_refused_ = std::move(refused);
}

void write_limit::opened(const approval_ticket& t) {
    if (!refused_) return;
    opened_ = t.id;
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(t.timeout);
    const auto within = minutes.count() > 0 && minutes == t.timeout
                            ? fmt::format("{}m", minutes.count())
                            : fmt::format("{}s", std::chrono::duration_cast<std::chrono::seconds>(t.timeout).count());
    refused_->message = fmt::format("pgsieve: this {} on \"{}\" ({} rows) needs approval; ticket {}; once approved, run "
                                    "the same statement again within {}",
                                    t.command, t.table, t.rows, t.id, within);
    refused_->detail = fmt::format("rule: approval (policy \"{}\" holds this write for a person; nothing was changed)",
                                   t.policy);
    refused_->hint = fmt::format("ask a person to run: pgsieve approve {}", t.id);
}

std::string write_limit::error_response(const refusal& r) {
    wire::error_fields e;
    e.sqlstate = std::string(r.sqlstate);
    // MCP servers hand the model only the message: the hint travels in it too.
    e.message = r.hint.empty() ? r.message : fmt::format("{}; hint: {}", r.message, r.hint);
    e.detail = r.detail;
    e.hint = r.hint;
    std::string out;
    wire::write_error_response(out, e);
    return out;
}

void write_limit::settle(std::vector<outcome>& done, std::size_t first) {
    const wire::received_error* failed = nullptr;  // an internal message's error, before the write ran
    for (std::size_t i = first; i < done.size(); ++i) {
        auto& o = done[i];
        if (o.internal) {
            // The failing Bind's error is pgsieve's own, recorded on the write.
            if (o.error && o.kind == request_kind::bind && refused_) o.error.reset();
            if (o.error && !failed && o.kind != request_kind::sync) failed = &*o.error;
            continue;
        }
        if (!o.write_limited) continue;
        if (simple_) o.kind = request_kind::query;
        if (o.skipped && failed) {
            o.skipped = false;
            o.error = *failed;
        } else if (o.skipped) {
            finish();  // never ran: no reply of its own will come
        }
        if (refused_ && !o.error) {
            o.rolled_back = true;
            o.limit_name = "max_rows_written";
            o.limit_value = limit_;
            o.rollback_reason = refused_->message;
            o.rollback_rule = refused_->rule;
            o.rollback_sqlstate = std::string(refused_->sqlstate);
        }
        if (approval_ == request::approval_step::run && ticket_) o.approval_ticket = ticket_->id;
        if (approval_ == request::approval_step::count && !opened_.empty()) o.approval_ticket = opened_;
    }
}

}  // namespace pgsieve::session
