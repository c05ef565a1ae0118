#pragma once
// Writing SQL text: identifiers and literals quoted as PostgreSQL reads them
// (quote_ident / quote_literal), for the SQL pgsieve prints or sends.

#include <string>
#include <string_view>

namespace pgsieve {

// A name in a list PostgreSQL splits itself (search_path): bare when it is
// lower-case letters, digits and _ (not starting with a digit), else quoted.
[[nodiscard]] std::string quote_identifier(std::string_view name);
// A name in SQL text: always double-quoted, so no keyword or case can change it.
[[nodiscard]] std::string sql_identifier(std::string_view name);
// "schema"."name".
[[nodiscard]] std::string sql_qualified(std::string_view schema, std::string_view name);
// A string literal: '…' with quotes doubled (E'…' when it holds a backslash).
[[nodiscard]] std::string quote_literal(std::string_view text);

}  // namespace pgsieve
