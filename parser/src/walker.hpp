#pragma once
// Walks libpg_query's JSON parse tree (read with simdjson) into
// statement_facts, one node at a time under the rules of node_table.hpp.
// Handlers read the structure they understand (`take`); every other field
// present is walked by its role or, if it has none, refuses the statement.

#include "node_table.hpp"

#include <pgsieve/parser/facts.hpp>

#include <simdjson.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::parser::detail {

using element = simdjson::dom::element;
using object = simdjson::dom::object;
using array = simdjson::dom::array;

// Beyond this many nested nodes a statement is refused: deeper trees are
// not written by people or tools, and the walk recurses once per level.
inline constexpr int max_walk_depth = 1000;

// A list's elements; false (and `out` untouched) when `e` is not a list.
inline bool as_list(element e, array& out) { return e.get_array().get(out) == simdjson::SUCCESS; }

// The single {"TypeName": {...}} pair of a wrapped node.
struct typed_node {
    std::string_view type;
    object fields;
    bool ok = false;
    bool null = false;  // {} or JSON null: a NULL pointer in the parse tree
};
typed_node node_of(element e);

// The query level and clause that references found in an expression belong to.
struct walk_ctx {
    int q = -1;
    clause c = clause::other;
    walk_ctx in(clause other) const { return {q, other}; }
};

// One node being walked: the fields present in it (read once, when it is
// opened), its rule, and which of those fields its handler read.
class node {
public:
    // The most fields any handled node can hold at once (SelectStmt has 20).
    static constexpr std::size_t max_present = 24;

    node(std::string_view type, object fields, const node_rule& rule) : type_(type), fields_(fields), rule_(&rule) {}

    std::string_view type() const { return type_; }
    const node_rule& rule() const { return *rule_; }
    object fields() const { return fields_; }

    // The field's value, now counted as read by the handler; nullopt when absent.
    std::optional<element> take(std::string_view key);
    std::string_view take_string(std::string_view key);
    bool take_bool(std::string_view key);
    std::int64_t take_int(std::string_view key, std::int64_t fallback = 0);
    bool has(std::string_view key) const;
    // The byte offset of the node, or -1 (not counted as read: it is a scalar).
    int location() const { return location_; }

    struct slot {
        std::uint8_t field;  // index into the rule's fields
        bool taken;
        element value;
    };
    std::size_t present() const { return count_; }
    const slot& at(std::size_t i) const { return slots_[i]; }
    // Records a present field; false when the node holds more than max_present.
    bool add(std::uint8_t field, element value);
    void set_location(int location) { location_ = location; }

private:
    std::string_view type_;
    object fields_;
    const node_rule* rule_;
    std::array<slot, max_present> slots_;
    std::size_t count_ = 0;
    int location_ = -1;
};

class walker {
public:
    walker(statement_facts& facts, int depth = 0) : f_(facts), depth_(depth) {}

    // RawStmt.stmt: one statement.
    void statement(element stmt);

    // Generic walking, under the table's rules: one node or a list, each
    // attached to the expression being walked (as an operand when its value
    // may flow from it, else as a use).
    void expressions(const walk_ctx& ctx, element e);
    // One expression node and all it holds: its index in statement_facts::exprs, or -1.
    int expression(const walk_ctx& ctx, element e);
    // An expression whose value the node being walked is computed from.
    void operand(const walk_ctx& ctx, element e);
    // A wrapped node of `type` (or of any structural type when empty),
    // checked against its rule; nullopt (and the statement refused) otherwise.
    std::optional<node> open(element e, std::string_view type);
    // A message stored without a type wrapper (withClause, alias, typeName…).
    std::optional<node> open_message(element e, std::string_view type);
    // Walks every field the handler did not read, by its role.
    void finish(node& n, const walk_ctx& ctx);
    void unsupported(std::string what, int location = -1);
    // Calls f on each element of a list field; a field that is not a list refuses.
    template <typename F>
    void each(std::optional<element> list, std::string_view what, F&& f) {
        if (!list) return;
        array items;
        if (!as_list(*list, items)) {
            unsupported(std::string(what) + " holding something other than a list");
            return;
        }
        for (element item : items) f(item);
    }

    // Handlers (the table points at these).
    void raw_stmt(node& n, walk_ctx& ctx);
    void select_stmt(node& n, walk_ctx& ctx);
    void insert_stmt(node& n, walk_ctx& ctx);
    void update_stmt(node& n, walk_ctx& ctx);
    void delete_stmt(node& n, walk_ctx& ctx);
    void explain_stmt(node& n, walk_ctx& ctx);
    void variable_show_stmt(node& n, walk_ctx& ctx);
    void variable_set_stmt(node& n, walk_ctx& ctx);
    void transaction_stmt(node& n, walk_ctx& ctx);
    void prepare_stmt(node& n, walk_ctx& ctx);
    void execute_stmt(node& n, walk_ctx& ctx);
    void deallocate_stmt(node& n, walk_ctx& ctx);
    void declare_cursor_stmt(node& n, walk_ctx& ctx);
    void fetch_stmt(node& n, walk_ctx& ctx);
    void close_portal_stmt(node& n, walk_ctx& ctx);
    void discard_stmt(node& n, walk_ctx& ctx);
    void copy_stmt(node& n, walk_ctx& ctx);

    void column_ref(node& n, walk_ctx& ctx);
    void a_const(node& n, walk_ctx& ctx);
    void a_expr(node& n, walk_ctx& ctx);
    void func_call(node& n, walk_ctx& ctx);
    void type_cast(node& n, walk_ctx& ctx);
    void xml_serialize(node& n, walk_ctx& ctx);
    void sub_link(node& n, walk_ctx& ctx);
    void case_expr(node& n, walk_ctx& ctx);
    void min_max_expr(node& n, walk_ctx& ctx);
    void xml_expr(node& n, walk_ctx& ctx);
    void type_name(node& n, walk_ctx& ctx);
    void param_ref(node& n, walk_ctx& ctx);
    void bool_expr(node& n, walk_ctx& ctx);
    void null_test(node& n, walk_ctx& ctx);
    void boolean_test(node& n, walk_ctx& ctx);
    void case_when(node& n, walk_ctx& ctx);

private:
    // Queries (walk_query.cpp): each returns its index in f_.queries.
    int new_query(int parent, bool lateral_scope);
    int select(node& s, int parent, bool lateral_scope);
    // A statement used as a query: a SelectStmt, or a DML statement in WITH.
    int query_node(element n, int parent, bool lateral_scope);
    void with_clause(int q, element with);
    int from_item(int q, element item);
    int range_function(int q, node& n, range_entry entry);
    void alias(node& n, range_entry& entry);
    void targets(int q, std::optional<element> list, clause c, bool record_outputs);
    void sort_items(const walk_ctx& ctx, std::optional<element> list, bool bare_keys);
    void group_items(const walk_ctx& ctx, std::optional<element> list);
    void window_def(const walk_ctx& ctx, node& w);
    relation_ref relation(node& range_var);
    void operator_names(std::optional<element> names, int location, bool implicit);
    void implicit_operator(std::string_view name, int location);
    // A nested statement (EXPLAIN, PREPARE, DECLARE, COPY): walked on its own.
    void inner_statement(std::optional<element> stmt);
    // The root query of INSERT/UPDATE/DELETE: its WITH, target relation and alias.
    int dml_root(node& s, statement_kind kind);
    void set_clause(int q, std::optional<element> list, clause c);

    // Depth of the walk: one guard per nested node, refusing past the limit.
    struct depth_guard {
        walker& w;
        bool ok;
        explicit depth_guard(walker& walker_);
        ~depth_guard() { --w.depth_; }
    };
    statement_facts& f_;
    int depth_ = 0;
    bool too_deep_ = false;
    int current_expr_ = -1;  // the expression node being walked (its index), or -1
};

// Field readers for plain JSON objects.
std::string_view string_field(object o, std::string_view key);
// The "sval" of each String node in a list (names, column lists); nullopt
// when an element is anything else.
std::optional<std::vector<std::string>> string_list(element list);
// A constant's text (A_Const, or String/Integer/Float/Boolean nodes as
// DefElem arguments hold them); nullopt for anything else.
std::optional<std::string> constant_text(element e);

// PostgreSQL's FigureColname: the output name of an unnamed target.
std::string figure_column_name(element value);

}  // namespace pgsieve::parser::detail
