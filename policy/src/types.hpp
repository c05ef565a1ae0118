#pragma once
// Types a statement converts values to — casts, typed literals, column
// definition lists, PREPARE's and Parse's parameter types — judged as the
// catalog rows they resolve to, never by their spelling: a type pgsieve does
// not know is refused (and the catalog re-read), a type the policy cannot
// see is indistinguishable from a missing one, and what a conversion runs
// (a domain's CHECKs, a user type's input function, a user cast) must be
// allowed. Values of name-printing types are judged where they flow
// (value_types.hpp).

#include "check_references.hpp"

#include <pgsieve/policy/catalog.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace pgsieve::policy::detail {

// The type a name denotes, looked up as PostgreSQL does (a qualified name
// exactly; else pg_catalog, then the search path); null when none exists.
const type_info* find_type(const std::vector<std::string>& name, const catalog& cat,
                           const std::vector<std::string>& path);

// Whether the policy's clients can see a user-defined type: the row type of
// a granted relation, or the type (or element, or domain base) of a column
// they may read. Built-in types are always visible.
bool type_visible(const type_info& t, const check_scope& s);

// Why converting a value to `t` is not allowed, or nullopt. `shown` is how
// the refusal names the type if the policy hides it (as written, or by OID).
verdict judge_type(const type_info& t, int location, const check_scope& s, const std::string& shown);

// Every type the statement converts to (f.types), resolved and judged.
// Name-printing types pass only as plain casts scoped discovery guards
// (catalog: introspection).
verdict check_types(const parser::statement_facts& f, const check_scope& s);

// A Parse message's parameter type OIDs (0: unspecified): each must be a
// type pgsieve knows, the policy can see, and not name-printing.
verdict check_parameter_types(const std::vector<std::uint32_t>& oids, const check_scope& s);

}  // namespace pgsieve::policy::detail
