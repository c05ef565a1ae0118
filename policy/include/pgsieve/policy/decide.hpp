#pragma once
// decide(): whether a policy allows a query string, and if not, an answer a
// person and a language model can act on (DESIGN.md §3).

#include <pgsieve/config/config.hpp>
#include <pgsieve/parser/facts.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::policy {

// What an allowed statement changes in the session's named objects, so the
// session can decide EXECUTE / FETCH later (SQL-level PREPARE and cursors).
struct session_effect {
    enum class kind { prepare, deallocate, deallocate_all, declare_cursor, close_cursor, close_all_cursors, discard_all };
    kind what = kind::prepare;
    std::string name;
    std::string text;  // PREPARE / DECLARE: the statement, to decide again after a reload
};

struct decision {
    bool allowed = true;      // what happens: false refuses (never in monitor mode)
    bool would_block = false; // monitor mode: enforce would have refused
    std::string rule;         // statement, relation, column, function, operator, unsupported, syntax, prepared
    std::string message;      // ErrorResponse M
    std::string detail;       // D: the rule that decided
    std::string hint;         // H: what would be allowed
    int position = 0;         // P: 1-based character position in the query string, 0 if none

    // What the statements read or write, for the audit.
    std::vector<std::string> tables;     // schema.table
    std::vector<std::string> columns;    // schema.table.column
    std::vector<std::string> functions;  // schema.function
    std::vector<std::string> kinds;      // statement kind of each statement
    std::vector<session_effect> effects;

    std::string policy_version;  // config::config::version of the rules that decided
    std::string sqlstate;        // of the refusal; empty: 42501 insufficient_privilege
    // With several statements in one query string, each one's own text and
    // reads, so the audit records them one by one.
    struct part {
        std::string text;
        std::vector<std::string> tables;
        std::vector<std::string> columns;
    };
    std::vector<part> parts;
};

struct context {
    const config::config& cfg;  // classification labels
    const config::policy& policy;
    const catalog& cat;
    std::vector<std::string> search_path;
    // Whether a SQL-level prepared statement (or a cursor, for FETCH) of that
    // name is allowed in this session now; unset (as in `pgsieve check`):
    // EXECUTE is refused and FETCH allowed (PostgreSQL errors on an unknown cursor).
    std::function<bool(const std::string&)> prepared_allowed;
    std::function<bool(const std::string&)> cursor_allowed;
};

// Parses and decides a whole query string: every statement must be allowed.
[[nodiscard]] decision decide(std::string_view sql, const context& ctx);
[[nodiscard]] decision decide(const std::vector<parser::statement_facts>& statements, std::string_view sql,
                              const context& ctx);

}  // namespace pgsieve::policy
