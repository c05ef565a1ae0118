#pragma once
// sqlcommenter-style tags (https://google.github.io/sqlcommenter/spec/):
// `/* tool='query', request_id='42' */` anywhere in a statement's comments,
// so an audited statement can be traced to the AI tool call that sent it.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsieve::audit {

using tag_list = std::vector<std::pair<std::string, std::string>>;

// Pairs of every comment that consists only of key='value' pairs (keys and
// values URL-decoded with '+' as a space, \' unescaped, made valid UTF-8),
// in text order. Comments inside string literals, quoted identifiers and
// dollar quotes are not comments.
[[nodiscard]] tag_list sqlcommenter_tags(std::string_view sql);

// The audit's `tags` column, a JSON object: every comment's pairs — a key
// with one value is a string, a key comments give different values is the
// array of them in text order (MCP Toolbox puts its comment first,
// sqlcommenter libraries last: neither can be overridden by the other) —
// and application_name, always the connection's (a comment's is kept as
// comment_application_name). Client-supplied: never used for a decision.
[[nodiscard]] std::string tags_json(std::string_view sql, std::string_view application_name);

}  // namespace pgsieve::audit
