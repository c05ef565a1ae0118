#pragma once
// The one table of what pgsieve knows about libpg_query's parse tree: every
// node type libpg_query 15 can produce (pg_query.proto) is either handled —
// with every one of its fields listed and how each is treated — or refused.
// The walker refuses a node it finds no rule for, a field its node's rule
// does not list, and a structural field its handler did not read, so a
// shape the analysis has not been taught can never run unexamined.
// tests/unit/coverage_test.cpp holds this table against pg_query.proto.

#include <pgsieve/parser/facts.hpp>

#include <optional>
#include <span>
#include <string_view>

namespace pgsieve::parser::detail {

class walker;
class node;
struct walk_ctx;

enum class role : unsigned char {
    scalar,  // a number, boolean, string or enum name: carries no reference
    expr,    // one expression node or a list of them, walked in the current query
    names,   // a list of String nodes: a (qualified) name, column names
    own,     // structure the node's handler reads itself (queries, FROM items, targets…)
    absent,  // set only by parse analysis, never by the raw parser: refused if present
};

enum class node_kind : unsigned char {
    expression,         // may appear wherever an expression is walked
    structural,         // read only by the handler of the node that holds it
    statement,          // a statement pgsieve analyses
    refused_statement,  // a statement kind pgsieve refuses whole (DDL, DCL, utility commands)
    refused,            // not analysed: a statement that contains it is refused
};

struct field_rule {
    std::string_view name;  // the JSON key (the proto field's json_name)
    role treatment = role::scalar;
    // For expr: the clause its references are recorded in (none: the
    // enclosing one). For a field typed as a message rather than a Node:
    // that message's name, as the JSON holds it without a type wrapper.
    std::optional<clause> in = std::nullopt;
    std::string_view message = {};
};

using handler = void (walker::*)(node&, walk_ctx&);

struct node_rule {
    std::string_view type;
    node_kind kind = node_kind::refused;
    std::span<const field_rule> fields = {};
    handler handle = nullptr;   // reads the `own` fields; the rest are walked by role
    std::string_view why = {};  // refused: what a user reads ("XMLTABLE")
};

// The rule for a node type, or null when libpg_query's node is unknown here.
const node_rule* find_rule(std::string_view type);
std::span<const node_rule> all_rules();

}  // namespace pgsieve::parser::detail
