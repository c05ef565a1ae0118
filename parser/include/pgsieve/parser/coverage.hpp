#pragma once
// The walker's node table as plain values, so a test can hold it against
// libpg_query's own node definitions (pg_query.proto).

#include <string>
#include <vector>

namespace pgsieve::parser {

struct field_coverage {
    std::string name;     // JSON key
    std::string role;     // scalar, expr, names, own, absent
    std::string message;  // for a field typed as a message: its name
};

struct node_coverage {
    std::string type;
    std::string kind;  // expression, structural, statement, refused_statement, refused
    std::vector<field_coverage> fields;
    bool has_handler = false;
};

[[nodiscard]] std::vector<node_coverage> coverage_table();

}  // namespace pgsieve::parser
