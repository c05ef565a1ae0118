#pragma once
// Every client message PostgreSQL answers is decided before it is
// forwarded: SQL text by the policy, names (Bind, Execute, Describe, EXECUTE,
// FETCH) by what the statement registry holds under them, decided again when
// the policy changed. A refused message is replaced by one PostgreSQL rejects
// at once without touching anything, so its own state machine stays in charge
// (transaction aborted, messages skipped until Sync, ReadyForQuery status);
// the relay rewrites the error it sends back into pgsieve's refusal.

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

    // One client message, read once and decided.
    struct decided {
        std::optional<request> req;  // what PostgreSQL answers (none for Flush, CopyData…)
        bool refused = false;
        std::string substitute;      // not empty: forwarded in the message's place (a refusal, or scoped discovery)
        std::string malformed;       // not empty: the message cannot be read (FATAL 08P01)
    };
    decided decide(const wire::frame& f, clock::time_point now);

private:
    // What a name runs, and the decision to run it now.
    struct held {
        std::shared_ptr<named_entry> entry;
        std::shared_ptr<const policy::decision> decision;
    };
    // Every candidate the registry gives for the name must be allowed; the
    // refusal of the first that is not, or null entry when none is held.
    held lookup(name_space space, const std::string& name);
    std::shared_ptr<const policy::decision> decide_sql(std::string_view sql, std::uint64_t* generation);
    // The entry's decision under the current policy.
    std::shared_ptr<const policy::decision> current(named_entry& e);
    // audit.on_failure: block while the audit log cannot be written; else null.
    std::shared_ptr<const policy::decision> audit_refusal() const;
    std::shared_ptr<const policy::decision> not_held(name_space space, const std::string& name) const;
    // The registry changes an allowed statement makes (PREPARE, DECLARE, …), pending on its tickets.
    void pend_effects(const policy::decision& d, statement_registry::ticket first);
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
};

}  // namespace pgsieve::session
