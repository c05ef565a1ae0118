#include <pgsieve/audit/fingerprint.hpp>

#include "sql_scan.hpp"

#include <cctype>
#include <cstdint>

namespace pgsieve::audit {

namespace {

class fnv1a {
public:
    void add(std::string_view s) {
        for (const char c : s) add(c);
    }
    void add(char c) {
        hash_ ^= static_cast<unsigned char>(c);
        hash_ *= 0x100000001b3ULL;
    }
    std::uint64_t value() const { return hash_; }

private:
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

bool word_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80); }
bool word_char(char c) { return word_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$'; }

}  // namespace

std::string fingerprint(std::string_view sql) {
    fnv1a h;
    std::size_t i = 0;
    const std::size_t n = sql.size();
    bool last_was_semicolon = false;
    auto token = [&](std::string_view t) {
        h.add(t);
        h.add(' ');
        last_was_semicolon = false;
    };
    while (i < n) {
        const char c = sql[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n') ++i;
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
            i = scan::block_comment_end(sql, i);
        } else if (c == '\'') {
            i = scan::quoted_end(sql, i, '\'');
            token("?");
        } else if (c == '"') {  // a quoted identifier is kept exactly
            const std::size_t end = scan::quoted_end(sql, i, '"');
            token(sql.substr(i, end - i));
            i = end;
        } else if (c == '$' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
            ++i;  // a parameter $n counts as a constant
            while (i < n && std::isdigit(static_cast<unsigned char>(sql[i]))) ++i;
            token("?");
        } else if (c == '$') {
            if (const auto end = scan::dollar_quote_end(sql, i)) {
                i = end;
                token("?");
            } else {
                token("$");
                ++i;
            }
        } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                   (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
            while (i < n && (std::isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '.' || sql[i] == '_' ||
                             ((sql[i] == '+' || sql[i] == '-') && (sql[i - 1] == 'e' || sql[i - 1] == 'E'))))
                ++i;
            token("?");
        } else if (word_start(c)) {
            const std::size_t start = i;
            while (i < n && word_char(sql[i])) ++i;
            // E'…', B'…', X'…', N'…' and U&'…' are constants with a prefix.
            const std::string_view word = sql.substr(start, i - start);
            if (i < n && sql[i] == '\'' && word.size() == 1 && std::string_view("eEbBxXnN").find(word[0]) != std::string_view::npos) {
                i = scan::quoted_end(sql, i, '\'', word[0] == 'e' || word[0] == 'E');
                token("?");
                continue;
            }
            for (const char w : word) h.add(static_cast<char>(std::tolower(static_cast<unsigned char>(w))));
            h.add(' ');
            last_was_semicolon = false;
        } else if (c == ';') {
            ++i;
            if (!last_was_semicolon) {  // a trailing ";" (or several) makes no difference
                h.add(';');
                last_was_semicolon = true;
            }
        } else {
            h.add(c);
            ++i;
            last_was_semicolon = false;
        }
    }
    std::uint64_t v = h.value();
    if (last_was_semicolon) {
        // Recompute without the final ";": hash again is simpler than undoing FNV.
        return fingerprint(sql.substr(0, sql.find_last_of(';')));
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int k = 15; k >= 0; --k, v >>= 4) out[static_cast<std::size_t>(k)] = digits[v & 0xF];
    return out;
}

}  // namespace pgsieve::audit
