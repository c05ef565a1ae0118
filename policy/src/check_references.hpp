#pragma once
// Checks what a statement reads: relations, columns, functions, operators.

#include "refusal.hpp"
#include "resolve.hpp"

#include <pgsieve/policy/decide.hpp>

namespace pgsieve::policy::detail {

// Relations and columns that `res` resolved; records what is read in `out`.
verdict check_reads(const resolution& res, const context& ctx, decision& out);
// Whether policy lets the statement use this relation (listed, or introspection).
verdict check_relation(const relation_info& rel, int location, const context& ctx);
verdict check_functions(const parser::statement_facts& f, const context& ctx, decision& out);
verdict check_operators(const parser::statement_facts& f, const context& ctx);
// Whether `column` of a granted table may be read; empty when allowed,
// else the rule that forbids it.
std::string column_rule(const config::table_grant* grant, const relation_info& rel, const std::string& column,
                        const context& ctx);

}  // namespace pgsieve::policy::detail
