#pragma once
// PostgreSQL's lexer (libpg_query's scanner): the tokens of a text, for the
// few places the parse tree keeps no location (where PREPARE's and DECLARE's
// query begins).

#include <string_view>
#include <vector>

namespace pgsieve::parser::detail {

struct token {
    int start = 0;  // byte offsets in the text
    int end = 0;
    int kind = 0;   // pg_query.proto's Token value
};

// Token kinds used here (pg_query.proto, enum Token).
inline constexpr int token_open_paren = 40;
inline constexpr int token_close_paren = 41;
inline constexpr int token_as = 294;
inline constexpr int token_for = 424;

// Every token of `text` (which must be NUL-terminated at text.size()); empty
// when the scanner refuses it.
std::vector<token> scan(std::string_view text);

// Where the statement after the first top-level `keyword` begins (the query
// of PREPARE … AS and DECLARE … FOR), or npos.
std::size_t after_keyword(std::string_view text, int keyword);

}  // namespace pgsieve::parser::detail
