#pragma once
// decide(): whether a policy allows a query string, and if not, an answer a
// person and a language model can act on (DESIGN.md §3).

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/parser/facts.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::policy {

// Which rule decided a refusal (or none, when allowed).
enum class rule {
    none,
    statement,    // the statement kind (or a clause of it) is not granted
    relation,     // a relation is not granted
    column,       // a column is not granted
    function,     // a function is not allowed
    operator_,    // a user-defined operator's function is not allowed
    type,         // a conversion to a domain or through a user cast runs a function not allowed
    parameter,    // SET / RESET of a parameter
    prepared,     // EXECUTE / FETCH of a name the session does not hold, or no longer allowed
    unresolved,   // a name does not resolve against the catalog
    unsupported,  // the analysis does not understand something: fail closed
    syntax,       // PostgreSQL's grammar rejects it
    limit,        // a size or depth limit of pgsieve
    catalog,      // no catalog or policy loaded
    policy,       // the client is gone from the configuration
    audit,        // the audit log cannot be written (on_failure: block)
    guardrail,    // an UPDATE or DELETE that does not limit its rows (tables.T.unbounded_writes)
    budget,       // the client used up a budget (statements, rows, bytes, statement time per window)
    approval,     // a write held for a person's approval (the policy's approval:)
};
std::string_view to_string(rule r);

// What an allowed statement changes in the session's named objects
// (SQL-level PREPARE, DECLARE, DEALLOCATE, CLOSE, DISCARD ALL); the session
// applies it once PostgreSQL confirms the statement.
struct session_effect {
    enum class kind { prepare, deallocate, deallocate_all, declare_cursor, close_cursor, close_all_cursors, discard_all };
    kind what = kind::prepare;
    std::string name;
    std::string text;        // PREPARE / DECLARE: the statement, to decide again after a reload
    bool with_hold = false;  // DECLARE … WITH HOLD
    std::size_t statement = 0;  // which statement of the query string makes it
};

struct decision {
    bool allowed = true;      // what happens: false refuses (never in monitor mode)
    bool would_block = false; // monitor mode: enforce would have refused
    policy::rule rule = policy::rule::none;
    std::string message;      // ErrorResponse M
    std::string detail;       // D: the rule that decided
    std::string hint;         // H: what would be allowed
    int position = 0;         // P: 1-based character position in the query string, 0 if none
    // For the audit and `pgsieve check` only: what decided, when the client's
    // words must not say it (a hidden object is refused as a missing one).
    std::string internal_detail;

    // What the statements read or write, for the audit (refused ones
    // included: what they tried to read).
    std::vector<std::string> tables;     // schema.table
    std::vector<std::string> columns;    // schema.table.column
    // Output columns of the result a client sees only masked (masking.hpp):
    // the session replaces their values, and checks that PostgreSQL's
    // RowDescription says each comes from that table.
    struct masked_output {
        std::size_t position = 0;  // 0-based, in the statement's result
        config::mask_method method = config::mask_method::redact;
        std::uint32_t table_oid = 0;   // 0: unknown (a catalog made by hand)
        std::int16_t column_number = 0;  // its attnum; 0: unknown
        std::string column;           // schema.table.column
    };
    std::vector<masked_output> masked;
    std::size_t result_columns = 0;  // with `masked`: how many columns the result has
    // Monitor mode: what enforce would have masked (the result is relayed as sent).
    std::vector<masked_output> would_mask;
    std::vector<std::string> functions;  // schema.function
    // Of `tables`, those whose rows PostgreSQL's row-level security scopes
    // for this policy (its `rows:` grants): the audit says so.
    std::vector<std::string> row_scoped;
    std::vector<session_effect> effects;
    // Scoped discovery (catalog: introspection): the catalog relations and
    // helpers the statement reads that are limited to the granted objects,
    // and the text PostgreSQL runs instead of the client's (empty: the
    // client's own; monitor mode never rewrites, it only records `scoped`).
    std::vector<std::string> scoped;
    std::string scoped_sql;
    // EXECUTE / FETCH: the answer depends on the session's named objects, so
    // it is never cached.
    bool session_dependent = false;
    // The same decision holds for every text of the statement's shape
    // (statement_shape.hpp: other integer constants): an allowed SELECT,
    // INSERT, UPDATE or DELETE of user tables alone, with no function call,
    // cast or type name (where a constant could name an object: an OID, a
    // reg* conversion) and nothing scoped or held.
    bool shape_cacheable = false;
    // The statement touches a table with columns the policy denies: upstream
    // errors may print their values (DETAIL "Failing row contains …"), so
    // the session strips those fields.
    bool redact_errors = false;
    // Monitor mode: enforce would have withheld those fields (redact_errors is false).
    bool would_redact_errors = false;

    std::string policy_version;  // config::config::version of the rules that decided
    std::string policy;          // the policy that decided (a reload may move a client to another)
    std::uint64_t max_rows = 0;  // that policy's max_rows for a result (0: none)
    std::uint64_t max_result_bytes = 0;  // and its max_result_bytes (0: none)
    bool truncate = false;       // on_exceed: truncate (else a result past a limit ends in ERROR 54000)
    // A write to a table with max_rows_written (0: none): the session runs it
    // in a transaction it controls and commits it only within the limit
    // (write_limit.hpp). Never set in monitor mode.
    std::uint64_t max_rows_written = 0;
    std::string written_table;   // schema.table of that write (or of a held one)
    // A write the policy's `approval:` holds for a human: it runs only as a
    // ticket `pgsieve approve` approved allows (approvals.hpp). Never set in
    // monitor mode.
    bool needs_approval = false;
    std::string sqlstate;        // of the refusal; empty: 42501 insufficient_privilege
    // With several statements in one query string, each one's own text and
    // reads, so the audit records them one by one.
    struct part {
        std::string text;
        std::vector<std::string> tables;
        std::vector<std::string> columns;
        std::vector<std::string> row_scoped;
    };
    std::vector<part> parts;
};

// The session's prepared statements and portals, as EXECUTE and FETCH/MOVE
// need them: the current decision for running each (decided again when the
// policy changed), or null when the session holds no such name.
class session_names {
public:
    virtual ~session_names() = default;
    virtual std::shared_ptr<const decision> prepared_statement(const std::string& name) = 0;
    virtual std::shared_ptr<const decision> portal(const std::string& name) = 0;
};

struct context {
    const config::config& cfg;  // classification labels, limits
    const config::policy& policy;
    const catalog& cat;
    std::vector<std::string> search_path;  // as the session sent it upstream ("$user" kept)
    std::string upstream_role;             // whom "$user" names
    // Null (as in `pgsieve check`): EXECUTE and FETCH are refused.
    session_names* names = nullptr;
};

// Parses and decides a whole query string: every statement must be allowed.
[[nodiscard]] decision decide(std::string_view sql, const context& ctx);
// The parse decide() makes: the statements, or the refusal of a text that
// cannot be analysed (too long, not UTF-8, not SQL, too costly to lex).
[[nodiscard]] expected<std::vector<parser::statement_facts>, decision> parse_statements(std::string_view sql,
                                                                                     const context& ctx);
// A Parse message's parameter type OIDs judged as types (unknown, hidden,
// name-printing or running a function the policy does not allow): the
// refusal, or nullopt when they may be used. Monitor mode: would_block set.
[[nodiscard]] std::optional<decision> refuse_parameter_types(const std::vector<std::uint32_t>& oids,
                                                             const context& ctx);
// Whether deciding these statements consults the session's named objects (EXECUTE, FETCH).
[[nodiscard]] bool uses_session_names(const std::vector<parser::statement_facts>& statements);
[[nodiscard]] decision decide(const std::vector<parser::statement_facts>& statements, std::string_view sql,
                              const context& ctx);

}  // namespace pgsieve::policy
