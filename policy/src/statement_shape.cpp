#include <pgsieve/policy/statement_shape.hpp>

#include <array>
#include <cctype>

namespace pgsieve::policy {

namespace {

bool identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); }
bool identifier_part(char c) { return identifier_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$'; }

// Words after which an integer may name an output column by position.
bool positional(std::string_view word) {
    constexpr std::array<std::string_view, 3> words{"order", "group", "distinct"};
    for (const auto w : words) {
        if (word.size() != w.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < w.size() && same; ++i)
            same = std::tolower(static_cast<unsigned char>(word[i])) == w[i];
        if (same) return true;
    }
    return false;
}

}  // namespace

std::optional<std::string> statement_shape(std::string_view sql) {
    if (sql.size() > max_shaped_bytes) return std::nullopt;
    std::string out;
    out.reserve(sql.size());
    bool replaced = false;
    for (std::size_t i = 0; i < sql.size();) {
        const char c = sql[i];
        if (c == '\'' || c == '"' || c == '\\') return std::nullopt;  // strings, quoted identifiers
        if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') return std::nullopt;  // a comment
        if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') return std::nullopt;
        if (c == '$') {
            // $n is a parameter; anything else ($$, $tag$) a dollar quote.
            std::size_t j = i + 1;
            while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
            if (j == i + 1 || (j < sql.size() && identifier_part(sql[j]))) return std::nullopt;
            out.append(sql.substr(i, j - i));
            i = j;
            continue;
        }
        if (identifier_start(c)) {
            std::size_t j = i + 1;
            while (j < sql.size() && identifier_part(sql[j])) ++j;
            const auto word = sql.substr(i, j - i);
            if (positional(word)) return std::nullopt;
            if (j < sql.size() && sql[j] == '&') return std::nullopt;  // U&'…', U&"…"
            out.append(word);
            i = j;
            continue;
        }
        if (std::isdigit(static_cast<unsigned char>(c))) {
            if (i > 0 && sql[i - 1] == '.') return std::nullopt;  // .5
            std::size_t j = i;
            std::uint64_t value = 0;
            while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) {
                value = value * 10 + static_cast<std::uint64_t>(sql[j] - '0');
                if (value > 2147483647u) return std::nullopt;  // int8 or numeric: another type
                ++j;
            }
            // 1.5, 1e3, 0x1F, 1_000, 1abc: not a plain int4 constant.
            if (j < sql.size() && (sql[j] == '.' || identifier_part(sql[j]))) return std::nullopt;
            out += '0';
            replaced = true;
            i = j;
            continue;
        }
        out += c;
        ++i;
    }
    if (!replaced) return std::nullopt;
    return out;
}

}  // namespace pgsieve::policy
