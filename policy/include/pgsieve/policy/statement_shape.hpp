#pragma once
// The shape of a statement: its text with every integer constant written
// as 0, so that `… WHERE aid = 17` and `… WHERE aid = 18` share one cached
// decision (decision_cache, keyed apart from exact texts). Conservative by
// construction: any construct the scanner is not sure of — a string or
// dollar-quoted constant, a comment, a quoted or Unicode-escaped
// identifier, a decimal or exponent, an integer past int4 (whose type
// differs), a word that may make an integer positional (ORDER BY 1,
// GROUP BY 1, DISTINCT ON (1)) — gives no shape, and the statement is
// decided from its exact text. A decision is kept under a shape only when
// it provably does not depend on the constants (decision::shape_cacheable).

#include <optional>
#include <string>
#include <string_view>

namespace pgsieve::policy {

// Longest text given a shape: longer ones are rare and decided exactly.
inline constexpr std::size_t max_shaped_bytes = 4096;

// Nullopt when the text has no integer constant, or anything listed above.
[[nodiscard]] std::optional<std::string> statement_shape(std::string_view sql);

}  // namespace pgsieve::policy
