#pragma once
// The missing-WHERE guardrail: an UPDATE or DELETE must bound the rows of
// its table with a condition on that table's own columns. `WHERE true`,
// `1 = 1`, `id IS NOT NULL OR true` and `id = id` bound nothing: the
// condition is read as a tree (AND bounds when any side does, OR only when
// every side does) whose leaves bound only when they test a column of the
// target against something else.

#include "resolve.hpp"

#include <pgsieve/parser/facts.hpp>

#include <optional>
#include <string>

namespace pgsieve::policy::detail {

// Nullopt when the statement's WHERE bounds its target's rows, else why not
// (for the refusal's message).
[[nodiscard]] std::optional<std::string> unbounded_write(const parser::statement_facts& f, const resolution& res);

}  // namespace pgsieve::policy::detail
