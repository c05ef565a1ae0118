#pragma once
// Values of name-printing types (reg*, aclitem and what is made of them)
// print object names with no function called and no conversion written:
// a reg*-typed column read, a function returning one, or an ordinary value
// that PostgreSQL converts to a reg* type because it meets one where types
// are unified (UNION, CASE, COALESCE, ARRAY, VALUES, GREATEST/LEAST,
// polymorphic functions and operators). This works out, for every
// expression of a statement, whether its value may be of such a type, and
// where it came from:
//
// - catalog: none — no value may be;
// - catalog: introspection — only values scoped discovery guards (a plain
//   cast to a reg* type, to_regclass and kin), and never beside an ordinary
//   value where PostgreSQL unifies their types: the ordinary one would be
//   converted unguarded.
//
// What cannot be worked out is taken to be name-printing (fail closed).

#include "check_references.hpp"
#include "resolve.hpp"

namespace pgsieve::policy::detail {

verdict check_value_types(const parser::statement_facts& f, const resolution& res, const check_scope& s);

}  // namespace pgsieve::policy::detail
