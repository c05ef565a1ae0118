#pragma once
// Scoped schema discovery (catalog: introspection): the catalog relations,
// helper functions and name-revealing conversions a client may use, and how
// each is scoped to the objects its policy grants.
//
// Scoping is a rewrite of the statement text that PostgreSQL runs, never of
// what the client sent (the audit keeps that):
// - a catalog relation in FROM becomes a fenced, filtered sub-query,
//   `(SELECT o.* FROM pg_catalog.pg_class AS o WHERE <visible> OFFSET 0)`;
//   OFFSET 0 keeps PostgreSQL from evaluating the client's predicates on
//   rows the filter removes (an error in them would print a hidden name);
// - an OID or name handed to a helper that prints or tests an object
//   (pg_get_viewdef, has_table_privilege, format_type, pg_get_userbyid…) or
//   converted to a name-printing type (regclass, regtype, regproc…) is
//   replaced by the same value if the object is visible, else NULL;
// - obj_description and col_description read the scoped descriptions, in
//   which the policy's own descriptions take precedence over COMMENT ON.
// Anything in the catalog that cannot be scoped is refused.

#include "refusal.hpp"

#include <pgsieve/common/expected.hpp>
#include <pgsieve/parser/facts.hpp>
#include <pgsieve/policy/decide.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsieve::policy::detail {

enum class discovery_relation {
    refused,   // holds what no client reads (pg_authid, pg_statistic, …) or cannot be scoped
    unscoped,  // names no user object (pg_am, pg_timezone_names, the session's own pg_cursors…)
    scoped,    // filtered to the visible objects
};
discovery_relation discovery_relation_rule(std::string_view schema, std::string_view name);
// Whether scoped discovery rewrites this catalog relation for the policy
// (a filtered sub-query, its name-printing columns guarded).
bool rewritten_relation(const relation_info& rel, const context& ctx);
// Every scoped relation, (schema, name) (for the test that each has a filter).
std::vector<std::pair<std::string, std::string>> scoped_discovery_relations();

// A schema-introspection helper function (pg_get_viewdef, obj_description…),
// and whether scoped discovery can limit it to the policy's grant.
bool discovery_function(std::string_view name);
bool discovery_function_scoped(std::string_view name);

// A type whose output prints an object's name (regclass, regtype…).
bool name_printing_type(const std::vector<std::string>& name);

// One place in the statement text the scoping rewrites.
struct discovery_site {
    enum class kind { relation, function, conversion };
    kind what = kind::relation;
    int location = -1;  // relation: where its name begins; function: its name; conversion: the cast
    std::string schema, name;  // the relation, the function (pg_catalog), or the target type
    bool aliased = false;      // relation: written with an alias
    int operand_start = -1;    // conversion
};

// The sites of one statement (not its inner statements: each is decided on
// its own) that scoping
// must rewrite, or a refusal for what cannot be scoped. `relations` are the
// statement's relation uses resolved to catalog relations (by location).
struct resolved_relation {
    int location = -1;
    std::string schema, name;
};
// `path`: the schemas unqualified names are searched in.
verdict discovery_sites(const parser::statement_facts& f, const std::vector<resolved_relation>& relations,
                        const context& ctx, const std::vector<std::string>& path, std::vector<discovery_site>& out);

// The statement text with every site rewritten, or a refusal when a site
// cannot be rewritten safely (then nothing of it runs).
// `statement_start`: where the one SELECT the text holds begins, when it
// is one: the visible sets are then computed once, in CTEs put in front of
// it, rather than in every place that needs them.
expected<std::string, refusal> scoped_text(std::string_view sql, std::vector<discovery_site> sites, const context& ctx,
                                           std::optional<std::size_t> statement_start = std::nullopt);

}  // namespace pgsieve::policy::detail
