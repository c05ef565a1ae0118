#pragma once
// Checks what a statement reads and runs: relations, columns, functions,
// conversions (domains, user casts) and operators.

#include "refusal.hpp"
#include "resolve.hpp"

#include <pgsieve/policy/decide.hpp>

#include <set>

namespace pgsieve::policy::detail {

// What one statement's checks share: the context and the schemas unqualified names are searched in.
struct check_scope {
    const context& ctx;
    const std::vector<std::string>& path;
};

// Relations and columns that `res` resolved; records what is read in `out`
// (all of it, even past a refusal, so the audit shows what was asked for).
verdict check_reads(const parser::statement_facts& f, const resolution& res, const check_scope& s, decision& out);
// Whether policy lets the statement use this relation (listed, or introspection).
verdict check_relation(const relation_info& rel, const std::string& written, int location, const check_scope& s);
// "allowed columns of" each granted relation the statement names, for a column refusal's hint.
std::string allowed_columns_hint(const parser::statement_facts& f, const check_scope& s);
verdict check_functions(const parser::statement_facts& f, const check_scope& s, decision& out);
// Whether the policy lists schema.name in its functions.
bool listed(const context& ctx, const std::string& schema, const std::string& name);
// What the refusal of a function says is allowed.
std::string listed_functions(const context& ctx);
// Why the policy does not let this function run (empty: it may); `call` is
// the call as written, when there is one (for arguments that matter).
std::string function_rule(const function_info& f, const parser::function_ref* call, const context& ctx);
// The same for a function reached indirectly (every overload of the name).
std::string named_function_rule(const std::string& schema, const std::string& name, const context& ctx);
// Written and implied operators; `res` gives the types the statement touches.
verdict check_operators(const parser::statement_facts& f, const resolution& res, const check_scope& s);
// Whether `column` of a granted table may be read; empty when allowed,
// else the rule that forbids it.
std::string column_rule(const config::table_grant* grant, const relation_info& rel, const std::string& column,
                        const context& ctx);
// Whether the policy hides some column of `rel` (so error details about its rows must not pass).
bool has_denied_columns(const relation_info& rel, const context& ctx);

}  // namespace pgsieve::policy::detail
