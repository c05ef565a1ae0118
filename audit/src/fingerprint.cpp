#include <pgsieve/audit/fingerprint.hpp>

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

// The end of a quoted run starting at `i` (on the opening quote); doubled
// quotes stay inside, and with `backslashes` (E'…') so do escaped ones.
std::size_t skip_quoted(std::string_view s, std::size_t i, char quote, bool backslashes) {
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
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {  // comments nest
            int depth = 0;
            do {
                if (sql[i] == '/' && i + 1 < n && sql[i + 1] == '*') {
                    ++depth;
                    i += 2;
                } else if (sql[i] == '*' && i + 1 < n && sql[i + 1] == '/') {
                    --depth;
                    i += 2;
                } else {
                    ++i;
                }
            } while (i < n && depth > 0);
        } else if (c == '\'') {
            i = skip_quoted(sql, i, '\'', false);
            token("?");
        } else if (c == '"') {  // a quoted identifier is kept exactly
            const std::size_t end = skip_quoted(sql, i, '"', false);
            token(sql.substr(i, end - i));
            i = end;
        } else if (c == '$' && i + 1 < n && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
            ++i;  // a parameter $n counts as a constant
            while (i < n && std::isdigit(static_cast<unsigned char>(sql[i]))) ++i;
            token("?");
        } else if (c == '$') {  // $tag$ … $tag$
            std::size_t j = i + 1;
            while (j < n && word_char(sql[j]) && sql[j] != '$') ++j;
            if (j < n && sql[j] == '$') {
                const std::string_view delimiter = sql.substr(i, j - i + 1);
                const auto end = sql.find(delimiter, j + 1);
                i = end == std::string_view::npos ? n : end + delimiter.size();
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
                i = skip_quoted(sql, i, '\'', word[0] == 'e' || word[0] == 'E');
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
