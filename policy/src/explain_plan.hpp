#pragma once
// What EXPLAIN shows beyond the statement it explains. A plan names every
// relation it reads — the tables behind a view, inheritance children and
// partitions, the tables row-level security's sub-plans read — every index
// it uses, and the body of each SQL function it inlines; EXPLAIN ANALYZE
// adds how many rows each filter removed. None of that is in the statement,
// so the walk cannot judge it: an EXPLAIN is allowed only when its plan can
// name nothing the policy does not show.

#include "refusal.hpp"

#include <pgsieve/policy/decide.hpp>

namespace pgsieve::policy::detail {

// `inner` is the explained statement, already allowed, whose reads are in
// `reads`; `scoped` says whether it reads catalog relations pgsieve scopes.
verdict check_explain_plan(const parser::statement_facts& explain, const parser::statement_facts& inner,
                           const decision& reads, bool scoped, const context& ctx);

}  // namespace pgsieve::policy::detail
