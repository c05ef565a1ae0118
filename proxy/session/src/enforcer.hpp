#pragma once
// Every client message PostgreSQL answers is decided before it is
// forwarded: SQL text by the policy, names (Bind, Execute, Describe, EXECUTE,
// FETCH) by what the statement registry holds under them, decided again when
// the policy changed. A refused message is replaced by one PostgreSQL rejects
// at once without touching anything, so its own state machine stays in charge
// (transaction aborted, messages skipped until Sync, ReadyForQuery status);
// the relay rewrites the error it sends back into pgsieve's refusal.

#include <pgsieve/session/analysis.hpp>
#include <pgsieve/session/in_flight.hpp>
#include <pgsieve/session/policy_snapshot.hpp>
#include <pgsieve/session/statement_registry.hpp>
#include <pgsieve/policy/decision_cache.hpp>
#include <pgsieve/wire/frame.hpp>

#include <memory>
#include <string>
#include <vector>

namespace pgsieve::session {

struct shared_state;

class enforcer {
public:
    // `client`: the identity whose current policy decides; `upstream_role`:
    // whom "$user" names; `search_path`: as sent upstream.
    enforcer(shared_state& shared, std::string client, std::string upstream_role, std::vector<std::string> search_path,
             statement_registry& registry);

    // The client's budgets now (its policy's, its own in their place).
    std::vector<config::budget> budgets() const;

    // One client message, read once and decided.
    struct decided {
        std::optional<request> req;  // what PostgreSQL answers (none for Flush, CopyData…)
        bool refused = false;
        std::string substitute;      // not empty: forwarded in the message's place (a refusal, or scoped discovery)
        std::string malformed;       // not empty: the message cannot be read (FATAL 08P01)
        // Nothing was done: a statement must first be analysed off this
        // thread (take_job()); decide the same message again after on_analysis().
        bool deferred = false;
    };
    decided decide(const wire::frame& f, clock::time_point now);

    // The analysis a deferred message waits for (once).
    std::optional<analysis_job> take_job() { return std::exchange(job_, std::nullopt); }
    // Its result, or that it did not finish within `limit`: the message is then refused.
    void on_analysis(analysis_result result);
    void on_analysis_timeout(std::chrono::milliseconds limit);

private:
    // What a name runs, and the decision to run it now.
    struct held {
        std::shared_ptr<named_entry> entry;
        std::shared_ptr<const policy::decision> decision;
    };
    // Every candidate the registry gives for the name must be allowed; the
    // refusal of the first that is not, or null entry when none is held.
    // `may_defer`: a text too long to analyse here makes the answer
    // `deferred` (no entry, no decision) and leaves a job.
    struct held_or_deferred : held {
        bool deferred = false;
    };
    held_or_deferred lookup(name_space space, const std::string& name, bool may_defer = false);
    // Null only when `may_defer` and the text is analysed off this thread (a job is left).
    std::shared_ptr<const policy::decision> decide_sql(std::string_view sql, std::uint64_t* generation,
                                                       bool may_defer = false);
    // The entry's decision under the current policy (null: deferred, as for decide_sql).
    std::shared_ptr<const policy::decision> current(named_entry& e, bool may_defer = false);
    // A Parse's parameter types judged as types (types.hpp): the refusal
    // replacing the text's decision `text`, or null when they may be used.
    std::shared_ptr<const policy::decision> parameter_types_refusal(const std::vector<std::uint32_t>& oids,
                                                                    const policy::decision& text);
    // audit.on_failure: block while the audit log cannot be written; else null.
    std::shared_ptr<const policy::decision> audit_refusal() const;
    // A statement the client's used-up budget refuses (53400), or null.
    std::shared_ptr<const policy::decision> budget_refusal(const std::vector<config::budget>& budgets) const;
    // A write the policy holds for approval: the refusal while its ticket
    // is pending or rejected; else null, with `req` marked to run under the
    // approved ticket or to be counted for a new one. `ambiguous`: the
    // portal may run one of several texts or parameter sets.
    std::shared_ptr<const policy::decision> hold_for_approval(request& req, std::string parameters, bool ambiguous) const;
    // An allowed Query or Execute: counts its statements, notes the rows and bytes left.
    void charge_statements(request& req, const std::vector<config::budget>& budgets, std::uint64_t statements) const;
    std::shared_ptr<const policy::decision> not_held(name_space space, const std::string& name) const;
    // The registry changes an allowed statement makes (PREPARE, DECLARE, …), pending on its tickets.
    void pend_effects(const std::shared_ptr<const policy::decision>& d, statement_registry::ticket first);
    // Refusal when `more` bytes of held text would pass max_prepared_text_bytes.
    std::shared_ptr<const policy::decision> text_over_limit(std::size_t more) const;
    // A prepared statement PostgreSQL holds with a scope the policy no longer gives.
    std::shared_ptr<const policy::decision> prepare_again(const policy::decision& now) const;
    // A refusal when holding `name` (not held yet), and `more` new names in
    // all, would take the session past max_named_per_session; else null.
    std::shared_ptr<const policy::decision> over_named_limit(name_space space, const std::string& name,
                                                             std::size_t more = 1) const;
    // The same for the PREPAREs and DECLAREs an allowed statement makes.
    std::shared_ptr<const policy::decision> effects_over_limit(const policy::decision& d) const;
    // A statement or portal name neither the session nor PostgreSQL can hold.
    std::string unused_name(name_space space) const;

    class names;
    shared_state& shared_;
    std::string client_;
    std::string upstream_role_;
    std::vector<std::string> search_path_;
    std::string search_path_key_;  // for the decision cache
    statement_registry& registry_;
    policy::decision_cache cache_{256};
    // A statement analysed off this thread: the job handed out, then its
    // result, taken by the decide_sql() of the same text and generation.
    struct analysed {
        std::string sql;
        std::uint64_t generation = 0;
        std::string policy;
        analysis_result result;
    };
    std::optional<analysis_job> job_;
    std::optional<analysed> waiting_;  // the job's key, until its result comes
    std::optional<analysed> ready_;
};

}  // namespace pgsieve::session
