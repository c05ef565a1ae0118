#pragma once
// What a statement does, as plain values: every relation, column reference,
// function, operator and type it names, with the scopes kept (queries, their
// FROM entries, aliases, CTEs) so the policy layer can resolve names exactly
// as PostgreSQL would against a catalog. No libpg_query or JSON type leaves
// parser/. Identifiers are as PostgreSQL stores them: unquoted ones folded
// to lower case, quoted and Unicode-escaped ones exact.
//
// Anything the walker does not fully understand is recorded in
// `unsupported`, and the policy layer refuses the statement (fail closed).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pgsieve::parser {

// Where in a statement a reference appears, for messages and for the
// output-column rules of ORDER BY / GROUP BY / DISTINCT ON.
enum class clause {
    target, from, join, where, group_by, having, window, order_by, limit, filter, function_argument,
    returning, insert_columns, update_set, values, on_conflict, distinct, other,
};

enum class statement_kind {
    select,            // SELECT, VALUES, TABLE, WITH … SELECT
    insert, update, delete_, merge,
    explain,           // inner statement in `inner`
    show, set, reset,  // parameter in `parameter`
    transaction,       // BEGIN/START/COMMIT/ROLLBACK/SAVEPOINT/RELEASE/PREPARE TRANSACTION…: see `transaction`
    set_transaction,   // SET TRANSACTION / SET SESSION CHARACTERISTICS AS TRANSACTION
    prepare, execute, deallocate,
    declare_cursor, fetch, close_cursor,
    discard,
    copy,
    other,             // anything else: DDL, GRANT, DO, CALL, VACUUM, LOCK, LISTEN… (node name in `node`)
};

enum class transaction_kind {
    none, begin, start, commit, rollback, savepoint, release, rollback_to, prepare, commit_prepared,
    rollback_prepared,
};

enum class discard_kind { none, all, plans, sequences, temp };

struct column_ref {
    std::vector<std::string> fields;  // {"c", "id"}, {"id"}, {"public", "t", "id"}; empty for a bare *
    bool star = false;                // * or c.*
    // ORDER BY / DISTINCT ON / GROUP BY item that is a bare name: PostgreSQL
    // may take it as an output column of the query rather than an input one.
    bool bare_sort_key = false;
    clause where = clause::other;
    int location = -1;                // byte offset in the statement text
};

struct function_ref {
    std::vector<std::string> name;  // {"now"} or {"pg_catalog", "now"}
    int location = -1;
    bool in_from = false;
    int arguments = 0;              // how many were passed (named ones included)
    bool star = false;              // count(*)
    bool variadic = false;          // VARIADIC array argument
    // The first argument when it is a string constant ('x' or 'x'::text),
    // for built-ins whose safety depends on it (current_setting).
    std::optional<std::string> first_text_argument;
    bool first_argument_constant = false;  // a constant of any type
};

struct operator_ref {
    std::vector<std::string> name;  // {"="} or {"myschema", "===" } for OPERATOR(myschema.===)
    int location = -1;
    // An operator PostgreSQL picks without it being written: the `=` of
    // CASE x WHEN / IN / NULLIF, the comparisons of BETWEEN, GREATEST/LEAST,
    // and the sort and grouping operators of ORDER BY, GROUP BY, DISTINCT.
    bool implicit = false;
};

// A type named where a value is converted to it (a cast, a typed literal,
// PREPARE's parameter types): a domain's CHECK constraints and a user cast's
// function run there.
struct type_ref {
    std::vector<std::string> name;  // {"pg_catalog", "int4"}, {"mydomain"}
    int location = -1;
    // A cast (x::t, CAST(x AS t), t 'literal'): where it is, and where its
    // operand begins (the least location inside it); -1 when not a cast.
    int cast_location = -1;
    int operand_start = -1;
    bool array = false;  // t[]: an array of the type
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
    std::vector<function_ref> functions;  // function: FROM f(...) / ROWS FROM (...); an empty name is an expression
    std::vector<std::vector<std::string>> function_columns;  // per function: its column definition list, if any
    std::vector<std::vector<int>> function_column_types;     // per function: those columns' types (into types)
    std::vector<int> function_exprs;                         // per function: its expression (into exprs)
    bool ordinality = false;              // WITH ORDINALITY: one more column
    std::string alias;                    // empty when none
    std::vector<std::string> column_aliases;  // alias column names, or a column definition list
    bool lateral = false;
    int left = -1, right = -1;            // join: indices into query::ranges
    std::vector<std::string> using_columns;
    bool natural = false;
    std::string using_alias;              // JOIN … USING (…) AS name
    int location = -1;
};

// One node of an expression, as the analysis needs it: to work out what
// type a value may take (a name-printing type reached by implicit coercion),
// where a column is used (masking allows bare projections only) and what a
// WHERE clause bounds. Indices point into statement_facts::exprs and the
// fact lists the walker fills (columns, functions, types, operators).
struct expr {
    enum class kind : std::uint8_t {
        constant,   // a literal other than NULL (and SQL value functions: CURRENT_DATE…)
        null,       // NULL
        param,      // $n; ref: n
        column,     // ref: index into queries[query].columns
        function,   // ref: index into functions; operands: the arguments in order
        cast,       // ref: index into types; operands: [the value converted]
        operator_,  // ref: index into operators (the first, for BETWEEN); operands: the operands; variant: a_expr_kind
        boolean,    // AND / OR / NOT; variant: bool_kind; operands: the arguments
        test,       // IS [NOT] NULL / TRUE / FALSE / UNKNOWN; operands: [the value tested]; variant: test_kind
        case_,      // operands: [arg if variant & case_has_arg] case_when… [default if variant & case_has_default]
        case_when,  // operands: [condition, result]
        coalesce,   // COALESCE(…); operands: the arguments
        min_max,    // GREATEST / LEAST
        array,      // ARRAY[…]
        row,        // ROW(…) or (a, b)
        sublink,    // a sub-query in an expression; ref: its query; variant: sublink_kind; operands: [test expression]
        other,      // anything else: its value may come from any of its operands
    };
    enum a_expr_kind : std::uint8_t { op, op_any, op_all, distinct, not_distinct, nullif, in, like, ilike, similar, between };
    enum bool_kind : std::uint8_t { and_, or_, not_ };
    enum sublink_kind : std::uint8_t { exists, all, any, rowcompare, scalar, multiexpr, array_of, cte };
    enum test_kind : std::uint8_t {
        is_null, is_not_null, is_true, is_not_true, is_false, is_not_false, is_unknown, is_not_unknown,
    };
    static constexpr std::uint8_t case_has_arg = 1, case_has_default = 2;

    kind what = kind::other;
    std::uint8_t variant = 0;
    int ref = -1;
    int query = -1;  // the query level it belongs to (-1: none)
    clause where = clause::other;
    int location = -1;
    std::vector<int> operands;  // what its value is computed from
    std::vector<int> uses;      // what else it holds (filters, orderings, window clauses of a call)
};

// An output column of a query, to expand derived tables and CTEs.
struct target {
    std::string name;                    // alias, or column/function name, or "?column?"
    bool star = false;                   // * or t.*: expands to columns of the FROM entries
    std::vector<std::string> qualifier;  // t for t.*
    int expr = -1;                       // its expression (index into statement_facts::exprs); -1 for a star
};

struct cte {
    std::string name;
    int query = -1;  // index into statement_facts::queries; -1 for a data-modifying CTE
    std::vector<std::string> column_aliases;
    std::vector<std::string> added_columns;  // SEARCH … SET col, CYCLE … SET mark USING path
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
    std::vector<std::vector<int>> values_rows;  // its rows' expressions, column by column
    int where_expr = -1;                // the WHERE clause's expression (-1: none)
    bool distinct = false;              // SELECT DISTINCT [ON (…)]: compares its output values
};

// Something the walker does not analyse, and so refuses.
struct unsupported_ref {
    std::string what;   // "XMLTABLE", "the field SelectStmt.foo", …
    int location = -1;
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
    std::vector<std::string> written_columns;  // INSERT column list, UPDATE SET and ON CONFLICT SET columns
    bool on_conflict_update = false;           // INSERT … ON CONFLICT DO UPDATE

    std::vector<relation_ref> relations;    // every relation named anywhere (RangeVar)
    std::vector<function_ref> functions;    // every function call anywhere
    std::vector<operator_ref> operators;    // every operator anywhere, written or implied
    std::vector<type_ref> types;            // every type a value is converted to
    std::vector<expr> exprs;                // every expression node (a parent before its operands)
    std::vector<unsupported_ref> unsupported;  // refuse: not analysed

    bool select_into = false;          // SELECT … INTO
    bool locking_clause = false;       // FOR UPDATE / SHARE …
    bool data_modifying_cte = false;   // WITH x AS (INSERT/UPDATE/DELETE …)
    bool explain_analyze = false;
    std::vector<statement_facts> inner;  // EXPLAIN, PREPARE, DECLARE CURSOR, COPY (query): the wrapped statement

    std::string parameter;        // SET / SHOW / RESET: lower-cased name ("all" for RESET ALL)
    std::vector<std::string> parameter_values;  // SET: each value as text (constants only; see set_value_unknown)
    bool set_value_unknown = false;             // SET … = DEFAULT / FROM CURRENT / a non-constant
    bool set_local = false;
    transaction_kind transaction = transaction_kind::none;
    bool read_write = false;      // BEGIN/SET TRANSACTION READ WRITE
    std::string object_name;      // PREPARE/EXECUTE/DEALLOCATE statement, DECLARE/FETCH/CLOSE cursor ("" for ALL)
    bool cursor_with_hold = false;  // DECLARE … WITH HOLD: survives its transaction
    discard_kind discard = discard_kind::none;
    bool copy_from = false;       // COPY … FROM
    bool copy_to_file = false;    // COPY … TO 'file' / PROGRAM
};

struct parse_error {
    enum class kind {
        syntax,    // PostgreSQL's grammar rejects it
        too_deep,  // nested beyond what pgsieve analyses
        limit,     // too many statements, or a text the lexer would scan superlinearly (text_check.hpp)
        encoding,  // not valid UTF-8, or a NUL byte
        internal,
    };
    std::string message;
    int position = 0;  // 1-based character position, 0 when unknown
    kind type = kind::syntax;
};

}  // namespace pgsieve::parser
