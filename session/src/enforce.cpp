// Every statement decided before it is forwarded. A refused message is
// replaced by one PostgreSQL rejects at once without touching anything, so
// its own state machine stays in charge (transaction aborted, messages
// skipped until Sync, ReadyForQuery status); the error it sends back is
// rewritten into pgsieve's refusal (relay.cpp).

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/message_io.hpp>

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

}  // namespace

std::shared_ptr<const policy::decision> session::decide(std::string_view sql, std::uint64_t* generation) {
    const auto start = clock::now();
    auto d = decide_uncounted(sql, generation);
    shared_.metrics.decision.observe(clock::now() - start);
    return d;
}

std::shared_ptr<const policy::decision> session::decide_uncounted(std::string_view sql, std::uint64_t* generation) {
    const auto snapshot = shared_.policies.current();
    *generation = snapshot ? snapshot->generation : 0;
    if (!snapshot || !snapshot->cfg) return refusal(policy::rule::catalog, "pgsieve: no policy is loaded", "rule: fail closed");
    const auto* client = snapshot->cfg->find_client(user_);
    const auto* policy = client ? snapshot->cfg->find_policy(client->policy) : nullptr;
    if (!policy)
        return refusal(policy::rule::policy, fmt::format("pgsieve: client \"{}\" is no longer in the configuration", user_),
                       "rule: a reloaded configuration without this client refuses its statements",
                       "reconnect with a configured client");
    if (!snapshot->catalog) {
        if (shared_.catalog_missing) shared_.catalog_missing();
        return refusal(policy::rule::catalog, "pgsieve: the upstream catalog has not been read yet; statements are refused until it is",
                       "rule: names are resolved against the upstream catalog", "retry in a moment");
    }

    if (auto refused = audit_refusal(*snapshot)) return refused;
    max_rows_ = policy->max_rows.value_or(0);
    const std::string path = fmt::format("{}", fmt::join(search_path_, ","));
    const policy::decision_cache::scope scope{snapshot->generation, policy->name, path};
    if (auto hit = cache_.find(scope, sql)) return hit;

    // EXECUTE and FETCH look up what this session holds under the name.
    struct held_names : policy::session_names {
        session& s;
        explicit held_names(session& owner) : s(owner) {}
        std::shared_ptr<const policy::decision> current(remembered* r) {
            if (!r) return nullptr;
            if (auto refused = s.still_refused(*r)) return refused;
            return r->decision ? r->decision : std::make_shared<const policy::decision>();
        }
        std::shared_ptr<const policy::decision> prepared_statement(const std::string& name) override {
            if (auto it = s.sql_prepared_.find(name); it != s.sql_prepared_.end()) return current(&it->second);
            if (auto it = s.statements_.find(name); it != s.statements_.end()) return current(&it->second);
            return nullptr;
        }
        std::shared_ptr<const policy::decision> portal(const std::string& name) override {
            if (auto it = s.cursors_.find(name); it != s.cursors_.end()) return current(&it->second);
            if (auto p = s.portals_.find(name); p != s.portals_.end()) {
                if (auto it = s.statements_.find(p->second); it != s.statements_.end()) return current(&it->second);
            }
            return nullptr;
        }
    } names(*this);
    policy::context ctx{*snapshot->cfg, *policy, *snapshot->catalog, search_path_, cfg_->upstream.user, &names};
    auto d = std::make_shared<const policy::decision>(policy::decide(sql, ctx));
    if (d->rule == policy::rule::unresolved && shared_.catalog_missing) shared_.catalog_missing();
    if (!d->session_dependent) cache_.insert(scope, sql, d);
    return d;
}

std::shared_ptr<const policy::decision> session::audit_refusal(const policy_snapshot& snapshot) const {
    if (!shared_.audit || shared_.audit->writable() || !snapshot.cfg ||
        snapshot.cfg->audit.failure != config::on_failure::block)
        return nullptr;
    auto d = std::make_shared<policy::decision>();
    d->allowed = false;
    d->rule = policy::rule::audit;
    d->message = "pgsieve: the audit log cannot be written, so statements are refused";
    d->detail = "rule: audit.on_failure: block (nothing runs unless it can be recorded)";
    d->hint = "retry later; the operator should check the audit file named in pgsieve's log";
    d->sqlstate = "58030";  // io_error
    d->policy_version = snapshot.cfg->version;
    return d;
}

std::shared_ptr<const policy::decision> session::still_refused(remembered& r) {
    const auto snapshot = shared_.policies.current();
    // Prepared statements too: nothing runs that cannot be recorded.
    if (snapshot) {
        if (auto refused = audit_refusal(*snapshot)) return refused;
    }
    if (snapshot && snapshot->generation == r.generation) return nullptr;
    std::uint64_t generation = 0;
    auto d = decide(r.sql, &generation);
    if (!d->allowed) return d;
    r.generation = generation;
    r.decision = std::move(d);
    return nullptr;
}

void session::apply_effects(const policy::decision& d, std::uint64_t generation) {
    using k = policy::session_effect::kind;
    for (const auto& e : d.effects) {
        switch (e.what) {
            case k::prepare: sql_prepared_[e.name] = {e.text, generation, std::make_shared<const policy::decision>(d)}; break;
            case k::deallocate:  // protocol-level and SQL-level statements share one namespace
                sql_prepared_.erase(e.name);
                statements_.erase(e.name);
                break;
            case k::deallocate_all:
                sql_prepared_.clear();
                statements_.clear();
                break;
            case k::declare_cursor: cursors_[e.name] = {e.text, generation, std::make_shared<const policy::decision>(d)}; break;
            case k::close_cursor:
                cursors_.erase(e.name);
                portals_.erase(e.name);
                break;
            case k::close_all_cursors:
                cursors_.clear();
                portals_.clear();
                break;
            case k::discard_all:
                sql_prepared_.clear();
                statements_.clear();
                cursors_.clear();
                portals_.clear();
                break;
        }
    }
}

std::string session::unused_name(std::string_view prefix) const {
    for (int i = 0;; ++i) {
        std::string name = fmt::format("{}{}", prefix, i);
        if (!statements_.contains(name) && !portals_.contains(name) && !sql_prepared_.contains(name) &&
            !cursors_.contains(name))
            return name;
    }
}

bool session::enforce(const wire::frame& f, request& req, std::string& substitute) {
    namespace fe = wire::frontend;
    std::uint64_t generation = 0;
    switch (f.type) {
        case fe::query: {
            req.decision = decide(req.sql, &generation);
            if (!req.decision->allowed) {
                wire::write_query(substitute, refused_sql);
                return true;
            }
            apply_effects(*req.decision, generation);
            return false;
        }
        case fe::parse: {
            req.decision = decide(req.sql, &generation);
            if (!req.decision->allowed) {
                statements_.erase(req.name);
                wire::message_writer(substitute).begin(fe::parse).cstring(req.name).cstring(refused_sql).int16(0).end();
                return true;
            }
            statements_[req.name] = {req.sql, generation, req.decision};
            return false;
        }
        case fe::bind: {
            const auto bind = wire::parse_bind(f.body);
            if (!bind) return false;  // relay.cpp already refused a malformed Bind
            portals_[std::string(bind->portal)] = std::string(bind->statement);
            req.name = bind->statement;  // the audit names the prepared statement, not the portal
            const auto it = statements_.find(std::string(bind->statement));
            if (it == statements_.end()) return false;  // unknown here: PostgreSQL says it does not exist
            req.sql = it->second.sql;
            auto refused = still_refused(it->second);
            if (!refused) {
                req.decision = it->second.decision;
                return false;
            }
            req.decision = std::move(refused);
            portals_.erase(std::string(bind->portal));
            // The same Bind, naming a statement that does not exist.
            const auto rest = f.body.substr(bind->portal.size() + 1 + bind->statement.size() + 1);
            wire::message_writer(substitute)
                .begin(fe::bind)
                .cstring(bind->portal)
                .cstring(unused_name("pgsieve_refused_"))
                .bytes(rest)
                .end();
            return true;
        }
        case fe::execute: {
            const auto execute = wire::parse_execute(f.body);
            if (!execute) return false;
            const auto portal = portals_.find(std::string(execute->portal));
            if (portal == portals_.end()) return false;
            const auto it = statements_.find(portal->second);
            if (it == statements_.end()) return false;
            req.sql = it->second.sql;
            req.name = portal->second;  // the audit names the prepared statement, not the portal
            auto refused = still_refused(it->second);
            if (!refused) {
                req.decision = it->second.decision;
                if (req.decision) apply_effects(*req.decision, it->second.generation);  // DECLARE / PREPARE run here
                return false;
            }
            req.decision = std::move(refused);
            wire::message_writer(substitute)
                .begin(fe::execute)
                .cstring(unused_name("pgsieve_refused_"))
                .int32(execute->max_rows)
                .end();
            return true;
        }
        case fe::function_call:
            req.decision = refusal(policy::rule::statement, "pgsieve: the fast-path function call protocol (FunctionCall) is not allowed",
                                   "rule: FunctionCall messages are always refused",
                                   "call functions from a SELECT, where policy can check them");
            wire::write_query(substitute, refused_sql);
            return true;
        default:
            return false;
    }
}

}  // namespace pgsieve::session
