#pragma once
// A statement's fingerprint for the audit log: the same for statements that
// differ only in constants, parameters, whitespace, comments or the case of
// unquoted words, so `audit stats` can group "the same query". Computed
// from tokens, without a parse: it runs for every audited statement.

#include <string>
#include <string_view>

namespace pgsieve::audit {

// 16 hex digits (64-bit FNV-1a over the normalized token stream).
[[nodiscard]] std::string fingerprint(std::string_view sql);

}  // namespace pgsieve::audit
