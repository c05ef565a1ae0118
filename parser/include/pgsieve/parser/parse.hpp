#pragma once
// SQL text → one statement_facts per statement, with PostgreSQL's own grammar.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/parser/facts.hpp>
#include <pgsieve/parser/text_check.hpp>

#include <optional>

#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::parser {

// The text is checked first (text_check.hpp): libpg_query never sees a
// text it would scan superlinearly.
[[nodiscard]] expected<std::vector<statement_facts>, parse_error> parse(std::string_view sql,
                                                                      const text_limits& limits = {});

// libpg_query's normalized text (constants replaced by $n), for the audit
// log's store_sql: normalized; nullopt for a text check_text() refuses.
[[nodiscard]] std::optional<std::string> normalize(std::string_view sql);

// A thread made for parsing says how large its stack is (with a margin
// for the caller's own frames): texts whose deepest nesting fits are then
// parsed on it instead of on a thread of their own. stack_size_for() is
// the stack a text of that length needs.
void set_thread_stack_size(std::size_t bytes);
[[nodiscard]] std::size_t stack_size_for(std::size_t text_bytes);

// PostgreSQL's error position: 1-based, in characters, from a byte offset
// (libpg_query's locations); 0 for an unknown (negative) offset.
[[nodiscard]] int character_position(std::string_view text, int byte_offset);

}  // namespace pgsieve::parser
