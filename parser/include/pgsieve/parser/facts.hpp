#pragma once
// What a statement does, as plain values: every relation, column reference,
// function and operator it names, with the scopes kept (queries, their FROM
// entries, aliases, CTEs) so the policy layer can resolve names exactly as
// PostgreSQL would against a catalog. No libpg_query or JSON type leaves
// parser/. Identifiers are as PostgreSQL stores them: unquoted ones folded
// to lower case, quoted and Unicode-escaped ones exact.

#include <string>
#include <vector>

namespace pgsieve::parser {

// Where in a statement a reference appears, for messages.
enum class clause {
    target, from, join, where, group_by, having, window, order_by, limit, filter, function_argument,
    returning, insert_columns, update_set, values, on_conflict, distinct, other,
};

enum class statement_kind {
    select,            // SELECT, VALUES, TABLE, WITH … SELECT
    insert, update, delete_, merge,
    explain,           // inner statement in `inner`
    show, set, reset,  // parameter in `parameter`
    transaction,       // BEGIN/START/COMMIT/ROLLBACK/SAVEPOINT/RELEASE/PREPARE TRANSACTION…: see transaction_kind
    set_transaction,   // SET TRANSACTION / SET SESSION CHARACTERISTICS AS TRANSACTION
    prepare, execute, deallocate,
    declare_cursor, fetch, close_cursor,
    discard,
    copy,
    other,             // anything else: DDL, GRANT, DO, CALL, VACUUM, LOCK, LISTEN… (node name in `node`)
};

struct column_ref {
    std::vector<std::string> fields;  // {"c", "id"}, {"id"}, {"public", "t", "id"}; empty for a bare *
    bool star = false;                // * or c.*
    bool whole_row_candidate = false; // used as a value on its own (t, t::text, row_to_json(t), (t).x)
    clause where = clause::other;
    int location = -1;                // byte offset in the statement text
};

struct function_ref {
    std::vector<std::string> name;  // {"now"} or {"pg_catalog", "now"}
    int location = -1;
    bool in_from = false;
};

struct operator_ref {
    std::vector<std::string> name;  // {"="} or {"myschema", "===" } for OPERATOR(myschema.===)
    int location = -1;
};

struct relation_ref {
    std::string schema;  // empty when unqualified
    std::string name;
    int location = -1;
};

struct range_entry {
    enum class kind { relation, subquery, function, join };
    kind type = kind::relation;
    relation_ref relation;                // relation: a table, view or CTE name
    int subquery = -1;                    // subquery: index into statement_facts::queries
    std::vector<function_ref> functions;  // function: FROM f(...) / ROWS FROM (...)
    std::string alias;                    // empty when none
    std::vector<std::string> column_aliases;
    bool lateral = false;
    int left = -1, right = -1;            // join: indices into query::ranges
    std::vector<std::string> using_columns;
    bool natural = false;
};

// An output column of a query, to expand derived tables and CTEs.
struct target {
    std::string name;                    // alias, or column/function name, or "?column?"
    bool star = false;                   // * or t.*: expands to columns of the FROM entries
    std::vector<std::string> qualifier;  // t for t.*
};

struct cte {
    std::string name;
    int query = -1;  // index into statement_facts::queries; -1 for a data-modifying CTE
    std::vector<std::string> column_aliases;
};

// One query level: its FROM entries and the references it makes directly.
// Sub-queries in expressions are queries of their own with `parent` set, so
// correlated references resolve outward.
struct query {
    int parent = -1;
    bool lateral_scope = false;   // a LATERAL subquery: sees earlier FROM entries of its parent
    std::vector<cte> ctes;
    bool recursive = false;
    std::vector<range_entry> ranges;
    std::vector<int> from;        // top-level FROM entries (indices into ranges)
    std::vector<column_ref> columns;
    std::vector<target> targets;
    int set_left = -1, set_right = -1;  // a set operation: output columns are the left arm's
    int values_width = -1;              // a VALUES list: column1..N
};

struct statement_facts {
    statement_kind kind = statement_kind::other;
    std::string node;         // libpg_query's node name, for messages ("CreateStmt")
    std::string text;         // this statement's own text
    int location = 0;         // its offset in the whole query string

    std::vector<query> queries;  // queries[root] is the statement's main query when it has one
    int root = -1;

    // The table an INSERT/UPDATE/DELETE/MERGE/COPY writes or reads.
    relation_ref target_relation;
    std::string target_alias;
    std::vector<std::string> written_columns;  // INSERT column list, UPDATE SET columns

    std::vector<relation_ref> relations;    // every relation named anywhere (RangeVar)
    std::vector<function_ref> functions;    // every function call anywhere
    std::vector<operator_ref> operators;    // every operator anywhere
    std::vector<std::string> unknown;       // node types the walker does not understand: refuse

    bool select_into = false;          // SELECT … INTO
    bool locking_clause = false;       // FOR UPDATE / SHARE …
    bool data_modifying_cte = false;   // WITH x AS (INSERT/UPDATE/DELETE …)
    bool explain_analyze = false;
    std::vector<statement_facts> inner;  // EXPLAIN, PREPARE, DECLARE CURSOR, COPY (query): the wrapped statement

    std::string parameter;        // SET / SHOW / RESET: lower-cased name ("all" for RESET ALL)
    std::vector<std::string> parameter_values;  // SET: each value as text (constants only; see set_value_unknown)
    bool set_value_unknown = false;             // SET … = DEFAULT / FROM CURRENT / a non-constant
    bool set_local = false;
    std::string transaction_kind; // begin, start, commit, rollback, savepoint, release, rollback_to, prepare, commit_prepared, rollback_prepared
    bool read_write = false;      // BEGIN/SET TRANSACTION READ WRITE
    std::string object_name;      // PREPARE/EXECUTE/DEALLOCATE statement, DECLARE/FETCH/CLOSE cursor ("" for ALL)
    std::string discard_kind;     // all, plans, sequences, temp
    bool copy_from = false;       // COPY … FROM
    bool copy_to_file = false;    // COPY … TO 'file' / PROGRAM
};

struct parse_error {
    std::string message;
    int position = 0;  // 1-based character position, 0 when unknown
};

}  // namespace pgsieve::parser
