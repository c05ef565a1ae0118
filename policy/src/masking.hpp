#pragma once
// Masked columns (a policy's `mask:`, DESIGN.md §3): a masked column may be
// used only as a bare projection — an output column of a SELECT that is the
// column itself, passed through derived tables, CTEs and `*`/`t.*`. Any
// other use (a condition, a join, a sort, a grouping, DISTINCT, a set
// operation, a function, cast or operator argument, a sub-query feeding an
// expression, a whole-row reference, RETURNING, a write, COPY, EXPLAIN)
// refuses the statement: the value could be inferred from what the
// statement returns. For an allowed statement,
// which output positions carry masked values (decision::masked); the
// session masks them in the result.

#include "check_references.hpp"
#include "refusal.hpp"
#include "resolve.hpp"

#include <pgsieve/parser/facts.hpp>

namespace pgsieve::policy::detail {

// `top`: whether `f`'s result reaches the client, for the session to mask:
// the statement the client runs, or the query of a PREPARE or DECLARE
// (EXECUTE and FETCH return it) — not EXPLAIN's.
verdict check_masks(const parser::statement_facts& f, const resolution& res, const check_scope& s, bool top,
                    decision& out);

}  // namespace pgsieve::policy::detail
