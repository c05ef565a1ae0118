#pragma once
// Walks libpg_query's JSON parse tree (read with simdjson) into
// statement_facts. A node type it does not know is recorded in
// `unknown`, which policy refuses: nothing is skipped silently.

#include <pgsieve/parser/facts.hpp>

#include <simdjson.h>

#include <string>
#include <string_view>

namespace pgsieve::parser::detail {

using element = simdjson::dom::element;
using object = simdjson::dom::object;
using array = simdjson::dom::array;

// The single {"TypeName": {...}} pair of a node.
struct typed_node {
    std::string_view type;
    object fields;
    bool ok = false;
    bool null = false;  // {} or JSON null: a NULL pointer in the parse tree
};
typed_node node_of(element e);

std::string_view string_field(object o, std::string_view key);
bool bool_field(object o, std::string_view key);
int int_field(object o, std::string_view key, int fallback = -1);
bool has(object o, std::string_view key);
// The "sval" of each String node in a list (names, column lists).
std::vector<std::string> string_list(object o, std::string_view key);

class walker {
public:
    explicit walker(statement_facts& facts) : f_(facts) {}

    void statement(element stmt);

    // Queries: each returns its index in f_.queries.
    int select(object s, int parent, bool lateral_scope);
    int query_node(element n, int parent, bool lateral_scope);  // a SelectStmt or a DML node used as a query

    void expression(int q, element n, clause c);
    void expressions(int q, object o, std::string_view key, clause c);

private:
    friend struct statement_dispatch;
    int new_query(int parent, bool lateral_scope);
    void with_clause(int q, object with);
    int from_item(int q, element item);
    void targets(int q, object s, std::string_view key, clause c, bool record_outputs);
    relation_ref relation(object range_var);
    void function_call(int q, object call, clause c, bool in_from);
    // The root query of INSERT/UPDATE/DELETE: its WITH, target relation and alias.
    int dml_root(object s, statement_kind kind);
    void insert(object s);
    void update(object s);
    void delete_(object s);
    void unknown(std::string_view type);

    statement_facts& f_;
};

// PostgreSQL's FigureColname: the output name of an unnamed target.
std::string figure_column_name(element value);

}  // namespace pgsieve::parser::detail
