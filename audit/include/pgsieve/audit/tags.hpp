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
// values URL-decoded, \' unescaped), in order. Comments inside string
// literals, quoted identifiers and dollar quotes are not comments.
[[nodiscard]] tag_list sqlcommenter_tags(std::string_view sql);

// The audit's `tags` column: the pairs above and application_name (when
// set), as a JSON object; a key given twice keeps its first value.
[[nodiscard]] std::string tags_json(std::string_view sql, std::string_view application_name);

}  // namespace pgsieve::audit
