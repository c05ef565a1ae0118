#pragma once
// Text that must be valid UTF-8 when stored (the audit log's TEXT columns,
// JSON): invalid bytes become U+FFFD, so a reader never fails on a row.

#include <string>
#include <string_view>

namespace pgsieve {

[[nodiscard]] bool is_valid_utf8(std::string_view s);
// `s` with each invalid byte sequence replaced by U+FFFD (a copy only when needed).
[[nodiscard]] std::string valid_utf8(std::string_view s);

}  // namespace pgsieve
