#pragma once
// PostgreSQL's two namespaces of a session — prepared statements (Parse,
// SQL PREPARE) and portals (Bind, SQL DECLARE) — as pgsieve holds them, with
// the text each runs and the decision that allowed it.
//
// A change (create, drop, clear) is pending from the moment its request is
// sent until PostgreSQL confirms it (ParseComplete, BindComplete,
// CloseComplete, CommandComplete); it is dropped if PostgreSQL refuses or
// skips the request. Within one batch of extended-protocol messages (up to
// a Sync) a pending change is certain for the messages after it: had it
// failed, PostgreSQL would skip them. Across batches and Query messages it
// is not, so a name may hold either its old or its new entry: a lookup
// returns every candidate and the caller must allow all of them, so a
// pipelined `PREPARE p …; EXECUTE p` can never run a text pgsieve did not
// decide. Portals that are not WITH HOLD end with their transaction, as
// PostgreSQL's do.

#include <pgsieve/policy/decide.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pgsieve::session {

enum class name_space { statement, portal };

// One prepared statement or portal: the SQL it runs. A portal bound while
// its statement's name was in flux (a re-Parse not yet answered) may run
// either text, so it keeps every one, and all must stay allowed.
struct named_entry {
    struct text_decision {
        std::shared_ptr<const std::string> text;  // shared by the portals bound from it
        // The decision that allowed it, and the policy generation that made
        // it (decided again when the generation changes). Null until decided.
        std::shared_ptr<const policy::decision> decision;
        std::uint64_t generation = 0;
        // The decision whose text PostgreSQL holds (its scoped text, for
        // scoped discovery): a later decision that would scope the text
        // differently cannot run on it. For a SQL PREPARE or DECLARE, until
        // its text is first decided on its own, the decision of the
        // statement that made it (`upstream_encloses`): PostgreSQL holds the
        // part of that statement's scoped text this text became.
        std::shared_ptr<const policy::decision> upstream;
        bool upstream_encloses = false;
    };
    std::vector<text_decision> texts;  // at least one
    bool holdable = false;             // portals: DECLARE … WITH HOLD survives its transaction
    std::string statement;             // portals made by Bind: the prepared statement they run
    // Portals made by Bind of a write held for approval: its format codes and
    // values, as sent, that a ticket binds (kept only for those, and only up
    // to max_bound_parameter_bytes: a held write whose are not kept is refused).
    std::optional<std::string> parameters;
    static constexpr std::size_t max_bound_parameter_bytes = 64 * 1024;
    // Portals whose Bind pgsieve changed to get masked columns in text: the
    // result formats the client asked for, one per column (result_mask.hpp).
    std::vector<std::int16_t> result_formats;

    static std::shared_ptr<named_entry> of(std::string text, std::shared_ptr<const policy::decision> decision,
                                           std::uint64_t generation) {
        auto e = std::make_shared<named_entry>();
        auto upstream = decision;
        e->texts.push_back({std::make_shared<const std::string>(std::move(text)), std::move(decision), generation,
                            std::move(upstream), false});
        return e;
    }
    // Made by a SQL PREPARE or DECLARE inside the statement `enclosing` decided.
    static std::shared_ptr<named_entry> within(std::string text, std::shared_ptr<const policy::decision> enclosing,
                                               bool holdable) {
        auto e = std::make_shared<named_entry>();
        e->texts.push_back({std::make_shared<const std::string>(std::move(text)), nullptr, 0, std::move(enclosing), true});
        e->holdable = holdable;
        return e;
    }
    const std::string& text() const { return *texts.back().text; }
};

// The most prepared statements, and the most portals, pgsieve keeps for one
// session (each holds its text): clients cache far fewer (psycopg 100,
// asyncpg 100, pgJDBC 256).
inline constexpr std::size_t max_named_per_session = 4096;
// And the most text their prepared statements hold together.
inline constexpr std::size_t max_prepared_text_bytes = 32u << 20;

class statement_registry {
public:
    using ticket = std::uint64_t;  // one per request (and per statement of a Query)

    struct change {
        enum class kind { put, erase, clear } what = kind::put;
        name_space space = name_space::statement;
        std::string name;                     // put, erase
        std::shared_ptr<named_entry> entry;   // put
    };

    ticket next_ticket() { return ++last_ticket_; }
    // A Sync or a Query ends the batch whose changes are certain to each other.
    void next_batch() { ++batch_; }
    // A change the request holding `t` makes if PostgreSQL accepts it.
    void pend(ticket t, change c);
    // PostgreSQL confirmed the request: its changes take effect.
    void confirm(ticket t);
    // Every request up to `t` is answered: changes not confirmed never happened.
    void settle(ticket t);
    // A transaction ended (ReadyForQuery 'I'): portals not WITH HOLD end with
    // it, and WITH HOLD ones it created end too when it rolled back.
    void end_transaction(bool rolled_back);

    // Every entry `name` may hold once the pending changes are answered; an
    // empty result means the session holds no such name.
    std::vector<std::shared_ptr<named_entry>> candidates(name_space space, const std::string& name) const;
    // Whether a name is held, confirmed or pending (to pick names PostgreSQL cannot know).
    bool may_hold(name_space space, const std::string& name) const;

    std::size_t size(name_space space) const { return held(space).size(); }
    // Names held or pending creation (an upper bound on what the session may hold once answered).
    std::size_t count(name_space space) const;
    // The text the prepared statements held or pending creation hold.
    std::size_t prepared_text_bytes() const;

private:
    using names = std::map<std::string, std::shared_ptr<named_entry>>;
    names& held(name_space space) { return space == name_space::statement ? statements_ : portals_; }
    const names& held(name_space space) const { return space == name_space::statement ? statements_ : portals_; }
    void apply(const change& c);

    names statements_, portals_;
    // Portals created in the transaction now open (for end_transaction);
    // a name re-bound in it is there once.
    std::set<std::string> opened_in_transaction_;
    struct pending {
        ticket t;
        std::uint64_t batch;
        change c;
    };
    std::vector<pending> pending_;  // in the order sent
    ticket last_ticket_ = 0;
    std::uint64_t batch_ = 0;
};

}  // namespace pgsieve::session
