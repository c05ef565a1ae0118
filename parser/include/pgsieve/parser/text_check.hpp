#pragma once
// What a statement's text must be before libpg_query sees it: valid UTF-8
// (client_encoding is pinned to UTF8), no NUL, no more statements than the
// limit, and nothing that makes PostgreSQL's lexer superlinear.
//
// PostgreSQL's lexer rescans runs of operator characters: `/*` inside a
// comment matches the rest of the run and puts all but two characters back
// (scan.l, xcstart), and an operator ending in + or - is shortened one
// character at a time and the rest rescanned. `SELECT 1 /*/*/*…` is
// therefore quadratic: 64 KB took 7.9 s. This check walks the text once with
// the lexer's states (strings, quoted identifiers, dollar quotes, nested
// comments) and adds up what those rescans cost; a text whose cost is not
// linear in its length is refused before any parse starts.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/parser/facts.hpp>

#include <cstddef>
#include <string_view>

namespace pgsieve::parser {

struct text_limits {
    std::size_t max_statements = 100;  // listen.max_statements_per_query
};

struct text_shape {
    std::size_t statements = 0;  // non-empty statements (an upper bound: `;` inside a function body counts)
    std::size_t lexer_cost = 0;  // characters the lexer scans, rescans included
};

// The lexer may scan at most this many characters per character of text
// (plus a constant): ordinary SQL scans each character about once.
inline constexpr std::size_t lexer_cost_per_byte = 32;
inline constexpr std::size_t lexer_cost_allowance = 64 * 1024;

// The text's shape, or why it is refused (parse_error::kind::limit or ::encoding).
[[nodiscard]] expected<text_shape, parse_error> check_text(std::string_view sql, const text_limits& limits);

}  // namespace pgsieve::parser
