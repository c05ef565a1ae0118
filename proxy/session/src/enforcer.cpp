#include "enforcer.hpp"

#include <pgsieve/policy/statement_shape.hpp>
#include <pgsieve/session/result_mask.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/message_io.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

namespace {

// Not SQL: PostgreSQL fails it in the raw parser, before any lookup, even
// inside an aborted transaction.
constexpr std::string_view refused_sql = "pgsieve refused this statement";

std::shared_ptr<const policy::decision> refusal(policy::rule rule, std::string message, std::string detail,
                                                std::string hint = {}) {
    auto d = std::make_shared<policy::decision>();
    d->allowed = false;
    d->rule = rule;
    d->message = std::move(message);
    d->detail = std::move(detail);
    d->hint = std::move(hint);
    return d;
}

using change = statement_registry::change;

}  // namespace

// EXECUTE and FETCH/MOVE in SQL text look up what the session holds.
class enforcer::names : public policy::session_names {
public:
    explicit names(enforcer& e) : e_(e) {}
    std::shared_ptr<const policy::decision> prepared_statement(const std::string& name) override {
        return e_.lookup(name_space::statement, name).decision;
    }
    std::shared_ptr<const policy::decision> portal(const std::string& name) override {
        return e_.lookup(name_space::portal, name).decision;
    }

private:
    enforcer& e_;
};

enforcer::enforcer(shared_state& shared, std::string client, std::string upstream_role,
                   std::vector<std::string> search_path, statement_registry& registry)
    : shared_(shared),
      client_(std::move(client)),
      upstream_role_(std::move(upstream_role)),
      search_path_(std::move(search_path)),
      search_path_key_(fmt::format("{}", fmt::join(search_path_, ","))),
      registry_(registry) {}

std::shared_ptr<const policy::decision> enforcer::audit_refusal() const {
    if (!shared_.audit || shared_.audit->writable()) return nullptr;
    const auto snapshot = shared_.policies.current();
    if (!snapshot || !snapshot->cfg || snapshot->cfg->audit.failure != config::on_failure::block) return nullptr;
    auto d = std::make_shared<policy::decision>();
    d->allowed = false;
    d->rule = policy::rule::audit;
    d->message = "pgsieve: the audit log cannot be written, so statements are refused";
    d->detail = "rule: audit.on_failure: block (nothing runs unless it can be recorded)";
    d->hint = "retry later; the operator should check the audit file named in pgsieve's log";
    d->sqlstate = std::string(wire::sqlstate::io_error);
    d->policy_version = snapshot->cfg->version;
    return d;
}

std::vector<config::budget> enforcer::budgets() const {
    const auto snapshot = shared_.policies.current();
    if (!snapshot || !snapshot->cfg) return {};
    const auto* c = snapshot->cfg->find_client(client_);
    return c ? snapshot->cfg->budgets_of(*c) : std::vector<config::budget>{};
}

std::shared_ptr<const policy::decision> enforcer::budget_refusal(const std::vector<config::budget>& budgets) const {
    const auto snapshot = shared_.policies.current();
    const auto* c = snapshot && snapshot->cfg ? snapshot->cfg->find_client(client_) : nullptr;
    // Monitor mode refuses nothing; its statements still count.
    if (const auto* p = c ? snapshot->cfg->find_policy(c->policy) : nullptr; p && p->mode == config::policy_mode::monitor)
        return nullptr;
    const auto over = shared_.budgets.check(client_, budgets);
    if (!over) return nullptr;
    auto d = std::make_shared<policy::decision>();
    d->allowed = false;
    d->rule = policy::rule::budget;
    d->message = over->message;
    d->detail = fmt::format("rule: budgets.{} (counted per client on each pgsieve replica)",
                            config::to_string(over->budget.kind));
    d->hint = "wait for the reset, or ask the policy's owner for a larger budget";
    d->sqlstate = std::string(wire::sqlstate::configuration_limit_exceeded);
    if (c) {
        d->policy_version = snapshot->cfg->version;
        d->policy = c->policy;
    }
    return d;
}

std::shared_ptr<const policy::decision> enforcer::hold_for_approval(request& req, std::string parameters,
                                                                   bool ambiguous) const {
    const auto& d = *req.decision;
    const auto refused = [&](std::string_view sqlstate, std::string message, std::string detail, std::string hint) {
        auto r = std::make_shared<policy::decision>(d);
        r->allowed = false;
        r->rule = policy::rule::approval;
        r->message = std::move(message);
        r->detail = std::move(detail);
        r->hint = std::move(hint);
        r->sqlstate = std::string(sqlstate);
        return r;
    };
    if (ambiguous)
        return refused(wire::sqlstate::approval_required,
                       fmt::format("pgsieve: this write to \"{}\" is held for approval, and pgsieve cannot tell the "
                                   "exact text and parameter values its portal runs (bound more than once before "
                                   "PostgreSQL answered, bound before the policy held it, or values over 64 KiB)",
                                   d.written_table),
                       "rule: approval (a held write is bound to its exact text and parameters)",
                       "Bind it again and send the Execute with it, after the replies to earlier ones");
    const auto snapshot = shared_.policies.current();
    approval_binding b{client_, snapshot && snapshot->cfg ? snapshot->cfg->grants_version : d.policy_version, req.sql,
                       std::move(parameters)};
    const auto now = std::chrono::system_clock::now();
    auto t = shared_.approvals.latest(b);
    if (t && live(*t, now)) {
        const auto what = fmt::format("{} on \"{}\"", t->command, t->table);
        const std::string rule = fmt::format("rule: approval (policy \"{}\" holds this write for a person)", d.policy);
        switch (t->state) {
            case ticket_state::pending:
                return refused(wire::sqlstate::approval_required,
                               fmt::format("pgsieve: this {} ({} rows) is waiting for approval, ticket {}; run the same "
                                           "statement again once it is approved",
                                           what, t->rows, t->id),
                               rule, fmt::format("ask a person to run: pgsieve approve {}", t->id));
            case ticket_state::rejected:
                return refused(wire::sqlstate::approval_rejected,
                               fmt::format("pgsieve: ticket {} for this {} was rejected{}{}", t->id, what,
                                           t->decided_by.empty() ? "" : " by " + t->decided_by,
                                           t->reason.empty() ? "" : ": " + t->reason),
                               rule, "do not run it again; ask the person who rejected it");
            case ticket_state::approved:
                req.approval = request::approval_step::run;
                req.ticket = std::move(t);
                return nullptr;
            default:
                break;
        }
    }
    if (shared_.approvals.full(now))
        return refused(wire::sqlstate::approval_required,
                       "pgsieve: this write is held for approval, and this replica holds as many open tickets as it "
                       "keeps",
                       "rule: approval", "retry once pending tickets were decided or expired");
    req.approval = request::approval_step::count;
    req.binding = std::move(b);
    req.ticket = std::move(t);  // a used, expired or voided one, named in the new ticket's message
    return nullptr;
}

void enforcer::charge_statements(request& req, const std::vector<config::budget>& budgets,
                                 std::uint64_t statements) const {
    if (budgets.empty()) return;
    shared_.budgets.charge(client_, budgets, config::budget_kind::statements, statements);
    const auto left = shared_.budgets.left(client_, budgets);
    req.budget_rows = left.rows;
    req.budget_bytes = left.bytes;
}

void enforcer::on_analysis(analysis_result result) {
    if (!waiting_) return;
    ready_ = std::move(*std::exchange(waiting_, std::nullopt));
    ready_->result = std::move(result);
}

void enforcer::on_analysis_timeout(std::chrono::milliseconds limit) {
    if (!waiting_) return;
    ready_ = std::move(*std::exchange(waiting_, std::nullopt));
    auto d = std::make_shared<policy::decision>(*refusal(
        policy::rule::limit,
        fmt::format("pgsieve: analysing the statement took longer than listen.analysis_timeout={} ms; it was refused",
                    limit.count()),
        "rule: the work pgsieve spends deciding one statement is bounded",
        "send a shorter or simpler statement"));
    const auto snapshot = shared_.policies.current();
    if (snapshot && snapshot->cfg) d->policy_version = snapshot->cfg->version;
    ready_->result = analysis_result{std::move(d), std::nullopt};
}

std::shared_ptr<const policy::decision> enforcer::decide_sql(std::string_view sql, std::uint64_t* generation,
                                                             bool may_defer) {
    const auto start = clock::now();
    const auto snapshot = shared_.policies.current();
    *generation = snapshot ? snapshot->generation : 0;
    if (!snapshot || !snapshot->cfg) return refusal(policy::rule::catalog, "pgsieve: no policy is loaded", "rule: fail closed");
    const auto* client = snapshot->cfg->find_client(client_);
    const auto* policy = client ? snapshot->cfg->find_policy(client->policy) : nullptr;
    if (!policy)
        return refusal(policy::rule::policy,
                       fmt::format("pgsieve: client \"{}\" is no longer in the configuration", client_),
                       "rule: a reloaded configuration without this client refuses its statements",
                       "reconnect with a configured client");
    if (!snapshot->catalog) {
        if (shared_.catalog_missing) shared_.catalog_missing();
        return refusal(policy::rule::catalog,
                       "pgsieve: the upstream catalog has not been read yet; statements are refused until it is",
                       "rule: names are resolved against the upstream catalog", "retry in a moment");
    }
    const policy::decision_cache::scope scope{snapshot->generation, policy->name, search_path_key_};
    if (auto hit = cache_.find(scope, sql)) {
        // A name unknown to this snapshot may exist by now: ask again (rate-limited).
        if (hit->rule == policy::rule::unresolved && shared_.catalog_missing) shared_.catalog_missing();
        shared_.metrics.decision.observe(clock::now() - start);
        return hit;
    }
    // The same statement with other integer constants, decided before.
    // Shape keys start with a NUL byte, which no statement text holds.
    std::string shape_key;
    if (auto shape = policy::statement_shape(sql)) {
        shape_key.reserve(shape->size() + 1);
        shape_key += '\0';
        shape_key += *shape;
        if (auto hit = cache_.find(scope, shape_key)) {
            shared_.metrics.decision.observe(clock::now() - start);
            return hit;
        }
    }
    names held_names(*this);
    const policy::context ctx{*snapshot->cfg, *policy, *snapshot->catalog, search_path_, upstream_role_, &held_names};
    std::shared_ptr<const policy::decision> d;
    if (ready_ && ready_->sql == sql && ready_->generation == snapshot->generation && ready_->policy == policy->name) {
        auto result = std::move(std::exchange(ready_, std::nullopt)->result);
        if (result.decision) d = std::move(result.decision);
        else if (result.facts) d = std::make_shared<const policy::decision>(policy::decide(*result.facts, sql, ctx));
    }
    if (!d && may_defer && sql.size() > inline_analysis_bytes) {
        // Long: parsed and decided off this thread (analysis.hpp).
        job_ = analysis_job{std::string(sql), snapshot, policy->name, search_path_, upstream_role_};
        waiting_ = analysed{std::string(sql), snapshot->generation, policy->name, {}};
        return nullptr;
    }
    if (!d) d = std::make_shared<const policy::decision>(policy::decide(sql, ctx));
    if (d->rule == policy::rule::unresolved && shared_.catalog_missing) shared_.catalog_missing();
    if (!d->session_dependent) cache_.insert(scope, sql, d);
    if (d->shape_cacheable && !shape_key.empty()) cache_.insert(scope, shape_key, d);
    shared_.metrics.decision.observe(clock::now() - start);
    return d;
}

std::shared_ptr<const policy::decision> enforcer::parameter_types_refusal(const std::vector<std::uint32_t>& oids,
                                                                          const policy::decision& text) {
    const auto snapshot = shared_.policies.current();
    const auto* client = snapshot && snapshot->cfg ? snapshot->cfg->find_client(client_) : nullptr;
    const auto* policy = client ? snapshot->cfg->find_policy(client->policy) : nullptr;
    if (!policy || !snapshot->catalog) return nullptr;  // the text's decision already says why
    const policy::context ctx{*snapshot->cfg, *policy, *snapshot->catalog, search_path_, upstream_role_, nullptr};
    auto refused = policy::refuse_parameter_types(oids, ctx);
    if (!refused) return nullptr;
    if (refused->rule == policy::rule::unresolved && shared_.catalog_missing) shared_.catalog_missing();
    if (!refused->allowed) return std::make_shared<const policy::decision>(std::move(*refused));
    // Monitor mode: the statement runs; the audit says what enforce would have done.
    auto marked = std::make_shared<policy::decision>(text);
    marked->would_block = true;
    marked->rule = refused->rule;
    marked->message = std::move(refused->message);
    marked->detail = std::move(refused->detail);
    marked->hint = std::move(refused->hint);
    return marked;
}

std::shared_ptr<const policy::decision> enforcer::current(named_entry& e, bool may_defer) {
    const auto snapshot = shared_.policies.current();
    std::shared_ptr<const policy::decision> last;
    for (auto& t : e.texts) {
        if (!t.decision || !snapshot || snapshot->generation != t.generation) {
            std::uint64_t generation = 0;
            auto d = decide_sql(*t.text, &generation, may_defer);
            if (!d) return nullptr;  // deferred
            // Only a policy decision is kept; a missing catalog or policy is not the statement's.
            if (d->rule == policy::rule::catalog || d->rule == policy::rule::policy) return d;
            if (t.upstream && d->allowed) {
                // PostgreSQL holds the text scoped to what the policy showed
                // then: a SQL PREPARE's as part of the enclosing statement's
                // scoped text (the scoped parts render alike wherever they are).
                const auto& held = t.upstream->scoped_sql;
                const bool same = t.upstream_encloses
                                      ? (d->scoped_sql.empty() || held.find(d->scoped_sql) != std::string::npos)
                                      : held == d->scoped_sql;
                if (!same) return prepare_again(*d);
                if (t.upstream_encloses) {
                    t.upstream = d;
                    t.upstream_encloses = false;
                }
            }
            t.decision = std::move(d);
            t.generation = generation;
        }
        if (!t.decision->allowed) return t.decision;
        last = t.decision;
    }
    return last;
}

std::shared_ptr<const policy::decision> enforcer::prepare_again(const policy::decision& now) const {
    auto refused = refusal(policy::rule::prepared,
                           fmt::format("pgsieve: it was prepared when policy \"{}\" showed other catalog objects, and "
                                       "PostgreSQL holds it as scoped then",
                                       now.policy),
                           "rule: a prepared discovery statement runs only with the scope it was prepared with",
                           "prepare it again (Close or DEALLOCATE it, then Parse or PREPARE it)");
    return refused;
}

std::shared_ptr<const policy::decision> enforcer::not_held(name_space space, const std::string& name) const {
    const bool portal = space == name_space::portal;
    return refusal(policy::rule::prepared,
                   fmt::format("pgsieve: {} \"{}\" does not exist in this session", portal ? "portal" : "prepared statement",
                               name),
                   portal ? "rule: only portals and cursors this session opened through pgsieve can run"
                          : "rule: only statements this session prepared through pgsieve can run",
                   portal ? "Bind or DECLARE it first" : "Parse or PREPARE it first");
}

enforcer::held_or_deferred enforcer::lookup(name_space space, const std::string& name, bool may_defer) {
    const auto found = registry_.candidates(space, name);
    if (found.empty()) return {};
    held_or_deferred out;
    for (const auto& entry : found) {
        auto d = current(*entry, may_defer);
        if (!d) {
            held_or_deferred deferred;
            deferred.deferred = true;
            return deferred;
        }
        if (!d->allowed) {
            // Say which name, and that it was allowed when it was made.
            auto refused = std::make_shared<policy::decision>(*d);
            std::string_view reason = d->message;
            if (reason.starts_with("pgsieve: ")) reason.remove_prefix(9);
            refused->rule = policy::rule::prepared;
            refused->message = fmt::format("pgsieve: {} \"{}\" is not allowed now: {}",
                                           space == name_space::portal ? "portal" : "prepared statement", name, reason);
            out.entry = entry;
            out.decision = std::move(refused);
            return out;
        }
        out.entry = entry;
        out.decision = std::move(d);
    }
    return out;
}

std::shared_ptr<const policy::decision> enforcer::over_named_limit(name_space space, const std::string& name,
                                                                   std::size_t more) const {
    if (name.empty() || registry_.may_hold(space, name) || registry_.count(space) + more <= max_named_per_session)
        return nullptr;
    const bool portal = space == name_space::portal;
    return refusal(policy::rule::limit,
                   fmt::format("pgsieve: this session holds {} {}, the most pgsieve keeps for one session",
                               registry_.count(space), portal ? "portals" : "prepared statements"),
                   "rule: the named statements and portals one session holds are bounded",
                   portal ? "CLOSE cursors (or Close portals) that are no longer needed"
                          : "DEALLOCATE (or Close) prepared statements that are no longer needed");
}

std::shared_ptr<const policy::decision> enforcer::text_over_limit(std::size_t more) const {
    if (registry_.prepared_text_bytes() + more <= max_prepared_text_bytes) return nullptr;
    return refusal(policy::rule::limit,
                   fmt::format("pgsieve: this session's prepared statements hold {} bytes of text, the most pgsieve "
                               "keeps for one session is {}",
                               registry_.prepared_text_bytes(), max_prepared_text_bytes),
                   "rule: the named statements and portals one session holds are bounded",
                   "DEALLOCATE (or Close) prepared statements that are no longer needed");
}

std::shared_ptr<const policy::decision> enforcer::effects_over_limit(const policy::decision& d) const {
    std::size_t statements = 0, portals = 0, text = 0;
    for (const auto& e : d.effects) {
        if (e.what == policy::session_effect::kind::prepare) {
            ++statements;
            text += e.text.size();
        }
        if (e.what == policy::session_effect::kind::declare_cursor) ++portals;
    }
    // A SQL PREPARE's entry keeps the enclosing statement's (scoped) decision.
    if (statements > 0)
        if (auto r = text_over_limit(text + d.scoped_sql.size())) return r;
    for (const auto& e : d.effects) {
        if (e.what == policy::session_effect::kind::prepare) {
            if (auto r = over_named_limit(name_space::statement, e.name, statements)) return r;
        } else if (e.what == policy::session_effect::kind::declare_cursor) {
            if (auto r = over_named_limit(name_space::portal, e.name, portals)) return r;
        }
    }
    return nullptr;
}

std::string enforcer::unused_name(name_space space) const {
    for (int i = 0;; ++i) {
        std::string name = fmt::format("pgsieve_refused_{}", i);
        if (!registry_.may_hold(space, name)) return name;
    }
}

void enforcer::pend_effects(const std::shared_ptr<const policy::decision>& d, statement_registry::ticket first) {
    using k = policy::session_effect::kind;
    for (const auto& e : d->effects) {
        const auto t = first + e.statement;
        switch (e.what) {
            case k::prepare:
                registry_.pend(t, {change::kind::put, name_space::statement, e.name, named_entry::within(e.text, d, false)});
                break;
            case k::declare_cursor:
                registry_.pend(t, {change::kind::put, name_space::portal, e.name,
                                   named_entry::within(e.text, d, e.with_hold)});
                break;
            case k::deallocate: registry_.pend(t, {change::kind::erase, name_space::statement, e.name, nullptr}); break;
            case k::deallocate_all: registry_.pend(t, {change::kind::clear, name_space::statement, {}, nullptr}); break;
            case k::close_cursor: registry_.pend(t, {change::kind::erase, name_space::portal, e.name, nullptr}); break;
            case k::close_all_cursors: registry_.pend(t, {change::kind::clear, name_space::portal, {}, nullptr}); break;
            case k::discard_all:
                registry_.pend(t, {change::kind::clear, name_space::statement, {}, nullptr});
                registry_.pend(t, {change::kind::clear, name_space::portal, {}, nullptr});
                break;
        }
    }
}

enforcer::decided enforcer::decide(const wire::frame& f, clock::time_point now) {
    namespace fe = wire::frontend;
    decided out;
    const auto make = [&](request_kind kind) -> request& {
        out.req.emplace();
        out.req->kind = kind;
        out.req->sent = now;
        out.req->first_ticket = registry_.next_ticket();
        return *out.req;
    };
    const auto refuse = [&](request& req, std::shared_ptr<const policy::decision> d) {
        req.decision = std::move(d);
        req.refused = true;
        out.refused = true;
    };
    std::uint64_t generation = 0;
    switch (f.type) {
        case fe::query: {
            const auto m = wire::parse_query(f.body);
            if (!m) return out.malformed = m.error(), out;
            // Nothing runs that cannot be recorded.
            auto decision = audit_refusal();
            if (!decision) decision = decide_sql(m->sql, &generation, true);
            if (!decision) return out.deferred = true, out;
            if (auto over = decision->allowed ? effects_over_limit(*decision) : nullptr) decision = std::move(over);
            const auto budget = budgets();
            if (decision->allowed && !budget.empty())
                if (auto over = budget_refusal(budget)) decision = std::move(over);
            registry_.next_batch();  // a Query is a unit of its own
            auto& req = make(request_kind::query);
            req.sql = m->sql;
            req.decision = std::move(decision);
            // One ticket per statement of the string; the first also drops
            // the unnamed statement and portal, as any simple Query does.
            req.tickets = std::max<std::size_t>(1, req.decision->parts.size());
            for (std::size_t i = 1; i < req.tickets; ++i) registry_.next_ticket();
            if (req.decision->allowed && req.decision->needs_approval)
                if (auto held = hold_for_approval(req, {}, false)) req.decision = std::move(held);
            if (!req.decision->allowed) {
                refuse(req, req.decision);
                wire::write_query(out.substitute, refused_sql);
                registry_.next_batch();
                return out;
            }
            charge_statements(req, budget, req.tickets);
            registry_.pend(req.first_ticket, {change::kind::erase, name_space::statement, "", nullptr});
            registry_.pend(req.first_ticket, {change::kind::erase, name_space::portal, "", nullptr});
            pend_effects(req.decision, req.first_ticket);
            registry_.next_batch();  // later messages cannot take its changes for certain
            // Scoped discovery: PostgreSQL runs the scoped text.
            if (!req.decision->scoped_sql.empty()) wire::write_query(out.substitute, req.decision->scoped_sql);
            return out;
        }
        case fe::parse: {
            const auto m = wire::parse_parse(f.body);
            if (!m) return out.malformed = m.error(), out;
            auto decision = audit_refusal();
            if (!decision) decision = over_named_limit(name_space::statement, std::string(m->statement));
            if (!decision && !m->statement.empty()) decision = text_over_limit(m->sql.size());
            if (!decision) decision = decide_sql(m->sql, &generation, true);
            if (!decision) return out.deferred = true, out;
            // Its entry keeps the decision, and the scoped text with it.
            if (decision->allowed && !m->statement.empty() && !decision->scoped_sql.empty())
                if (auto over = text_over_limit(m->sql.size() + decision->scoped_sql.size())) decision = std::move(over);
            // The parameter types it declares are conversions too (a domain's CHECK, a reg* type…).
            if (decision->allowed && !decision->would_block && !m->parameter_types.empty())
                if (auto refused = parameter_types_refusal(m->parameter_types, *decision)) decision = std::move(refused);
            auto& req = make(request_kind::parse);
            req.name = m->statement;
            req.sql = m->sql;
            req.decision = std::move(decision);
            if (!req.decision->allowed) {
                refuse(req, req.decision);
                wire::message_writer(out.substitute).begin(fe::parse).cstring(req.name).cstring(refused_sql).int16(0).end();
                return out;
            }
            registry_.pend(req.first_ticket,
                           {change::kind::put, name_space::statement, req.name, named_entry::of(req.sql, req.decision, generation)});
            if (!req.decision->scoped_sql.empty()) {
                // The same Parse (its parameter types kept) with the scoped text.
                const auto rest = f.body.substr(m->statement.size() + 1 + m->sql.size() + 1);
                wire::message_writer(out.substitute)
                    .begin(fe::parse)
                    .cstring(req.name)
                    .cstring(req.decision->scoped_sql)
                    .bytes(rest)
                    .end();
            }
            return out;
        }
        case fe::bind: {
            const auto bind = wire::parse_bind(f.body);
            if (!bind) return out.malformed = bind.error(), out;
            const std::string statement(bind->statement);
            auto found = lookup(name_space::statement, statement, true);
            if (found.deferred) return out.deferred = true, out;
            auto& req = make(request_kind::bind);
            req.name = statement;  // the audit names the prepared statement, not the portal
            if (found.entry) req.sql = found.entry->text();
            auto audit_refused = audit_refusal();
            if (!audit_refused) audit_refused = over_named_limit(name_space::portal, std::string(bind->portal));
            req.decision = audit_refused ? audit_refused : found.decision ? found.decision : not_held(name_space::statement, statement);
            if (!req.decision->allowed) {
                refuse(req, req.decision);
                // The same Bind, naming a statement that cannot exist.
                const auto rest = f.body.substr(bind->portal.size() + 1 + bind->statement.size() + 1);
                wire::message_writer(out.substitute)
                    .begin(fe::bind)
                    .cstring(bind->portal)
                    .cstring(unused_name(name_space::statement))
                    .bytes(rest)
                    .end();
                return out;
            }
            // The portal runs whichever text the name holds when PostgreSQL binds it: keep every candidate's.
            auto portal_entry = std::make_shared<named_entry>();
            portal_entry->statement = statement;
            if (req.decision->needs_approval) {
                // What a ticket binds besides the text (bounded: a held write with more is refused).
                const auto values = f.body.substr(bind->portal.size() + 1 + bind->statement.size() + 1);
                if (values.size() <= named_entry::max_bound_parameter_bytes) portal_entry->parameters = std::string(values);
            }
            for (const auto& candidate : registry_.candidates(name_space::statement, statement))
                portal_entry->texts.insert(portal_entry->texts.end(), candidate->texts.begin(), candidate->texts.end());
            if (!req.decision->masked.empty()) {
                if (auto text = bind_with_masked_as_text(f.body, req.decision->masked, req.decision->result_columns)) {
                    wire::message_writer(out.substitute).begin(fe::bind).bytes(text->body).end();
                    portal_entry->result_formats = std::move(text->client_formats);
                }
            }
            registry_.pend(req.first_ticket,
                           {change::kind::put, name_space::portal, std::string(bind->portal), std::move(portal_entry)});
            return out;
        }
        case fe::execute: {
            const auto execute = wire::parse_execute(f.body);
            if (!execute) return out.malformed = execute.error(), out;
            const std::string portal(execute->portal);
            auto found = lookup(name_space::portal, portal, true);
            if (found.deferred) return out.deferred = true, out;
            auto& req = make(request_kind::execute);
            req.name = portal;
            if (found.entry) {
                req.sql = found.entry->text();
                // The audit names the prepared statement a Bind made the portal from.
                if (!found.entry->statement.empty()) req.name = found.entry->statement;
            }
            auto audit_refused = audit_refusal();
            req.decision = audit_refused ? audit_refused : found.decision ? found.decision : not_held(name_space::portal, portal);
            if (auto over = req.decision->allowed ? effects_over_limit(*req.decision) : nullptr) req.decision = std::move(over);
            const auto budget = budgets();
            if (req.decision->allowed && !budget.empty())
                if (auto over = budget_refusal(budget)) req.decision = std::move(over);
            if (req.decision->allowed && req.decision->needs_approval) {
                // Bound to the text and parameters PostgreSQL will run: one candidate, one text.
                // (Bound before a reload made it a held write, its values were not kept.)
                const auto candidates = registry_.candidates(name_space::portal, portal);
                const bool ambiguous = candidates.size() != 1 || candidates[0]->texts.size() != 1 ||
                                       !candidates[0]->parameters;
                if (auto held = hold_for_approval(req, ambiguous ? std::string() : *candidates[0]->parameters, ambiguous))
                    req.decision = std::move(held);
            }
            if (!req.decision->allowed) {
                refuse(req, req.decision);
                wire::message_writer(out.substitute)
                    .begin(fe::execute)
                    .cstring(unused_name(name_space::portal))
                    .int32(execute->max_rows)
                    .end();
                return out;
            }
            charge_statements(req, budget, 1);
            pend_effects(req.decision, req.first_ticket);  // a DECLARE or PREPARE run through the extended protocol
            return out;
        }
        case fe::describe: {
            const auto describe = wire::parse_describe(f.body);
            if (!describe) return out.malformed = describe.error(), out;
            const auto space = describe->kind == 'S' ? name_space::statement : name_space::portal;
            auto found = lookup(space, std::string(describe->name), true);
            if (found.deferred) return out.deferred = true, out;
            auto& req = make(request_kind::describe);
            req.name = describe->name;
            if (found.entry) req.sql = found.entry->text();
            const auto d = found.decision ? found.decision : not_held(space, req.name);
            if (d->allowed) {
                if (!d->masked.empty()) {
                    req.masking = d;  // its RowDescription shows the masked columns as text
                    if (found.entry) req.result_formats = found.entry->result_formats;
                }
                return out;  // its result's columns: not a statement of its own
            }
            refuse(req, d);
            wire::message_writer(out.substitute).begin(fe::describe).byte(describe->kind).cstring(unused_name(space)).end();
            return out;
        }
        case fe::close: {
            const auto close = wire::parse_close(f.body);
            if (!close) return out.malformed = close.error(), out;
            auto& req = make(request_kind::close);
            req.name = close->name;
            registry_.pend(req.first_ticket, {change::kind::erase,
                                              close->kind == 'S' ? name_space::statement : name_space::portal,
                                              std::string(close->name), nullptr});
            return out;
        }
        case fe::sync:
            make(request_kind::sync);
            registry_.next_batch();
            return out;
        case fe::function_call: {
            auto& req = make(request_kind::function_call);
            refuse(req, refusal(policy::rule::statement,
                                "pgsieve: the fast-path function call protocol (FunctionCall) is not allowed",
                                "rule: FunctionCall messages are always refused",
                                "call functions from a SELECT, where policy can check them"));
            wire::write_query(out.substitute, refused_sql);
            return out;
        }
        default:
            return out;  // Flush, CopyData, CopyDone, CopyFail, Terminate: nothing to answer of their own
    }
}

}  // namespace pgsieve::session
