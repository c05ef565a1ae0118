#pragma once
// The lexical rules both tags.cpp and fingerprint.cpp scan SQL text with:
// where a quoted run, a dollar quote or a (nested) block comment ends.
// Each takes the index of its opening character and returns the index just
// past its end, or the text's size when it never ends.

#include <cctype>
#include <string_view>

namespace pgsieve::audit::scan {

// '…' or "…" (a doubled quote stays inside); with `backslashes` (E'…') an
// escaped character does too.
inline std::size_t quoted_end(std::string_view s, std::size_t i, char quote, bool backslashes = false) {
    for (++i; i < s.size(); ++i) {
        if (backslashes && s[i] == '\\') {
            ++i;
        } else if (s[i] == quote) {
            if (i + 1 < s.size() && s[i + 1] == quote) ++i;
            else return i + 1;
        }
    }
    return s.size();
}

// /* … */, which nests in PostgreSQL.
inline std::size_t block_comment_end(std::string_view s, std::size_t i) {
    int depth = 0;
    do {
        if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
            ++depth;
            i += 2;
        } else if (s[i] == '*' && i + 1 < s.size() && s[i + 1] == '/') {
            --depth;
            i += 2;
        } else {
            ++i;
        }
    } while (i < s.size() && depth > 0);
    return i;
}

// $tag$ … $tag$ (tag: letters, digits, _; not starting with a digit, which
// would be a parameter $1); 0 when `i` does not open one.
inline std::size_t dollar_quote_end(std::string_view s, std::size_t i) {
    std::size_t j = i + 1;
    if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) return 0;
    while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || (s[j] & 0x80))) ++j;
    if (j >= s.size() || s[j] != '$') return 0;
    const std::string_view delimiter = s.substr(i, j - i + 1);
    const auto end = s.find(delimiter, j + 1);
    return end == std::string_view::npos ? s.size() : end + delimiter.size();
}

}  // namespace pgsieve::audit::scan
