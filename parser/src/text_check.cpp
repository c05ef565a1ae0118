#include <pgsieve/common/utf8.hpp>
#include <pgsieve/parser/text_check.hpp>

#include <fmt/format.h>

namespace pgsieve::parser {

namespace {

// scan.l's character classes.
bool op_char(char c) {
    switch (c) {
        case '~': case '!': case '@': case '#': case '^': case '&': case '|': case '`': case '?':
        case '+': case '-': case '*': case '/': case '%': case '<': case '>': case '=':
            return true;
        default:
            return false;
    }
}
bool ident_start(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || u >= 0x80;
}
bool ident_cont(char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '$'; }
bool dolq_cont(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

// One pass over the text in the lexer's states.
class scanner {
public:
    explicit scanner(std::string_view text) : s_(text) {}

    // False when a quote or comment never ends (PostgreSQL reports that; the cost is still linear).
    void run() {
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (c == '-' && next_is('-')) {
                line_comment();
            } else if (c == '/' && next_is('*')) {
                block_comment();
            } else if (op_char(c)) {
                operator_run();
            } else if (c == '\'') {
                token();
                quoted('\'', false);
            } else if (c == '"') {
                token();
                quoted('"', false);
            } else if (c == '$') {
                token();
                dollar();
            } else if (ident_start(c)) {
                token();
                identifier();
            } else if (c == ';') {
                ++i_;
                in_statement_ = false;
            } else {
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') token();
                ++i_;
            }
        }
        cost_ += s_.size();
    }

    std::size_t statements() const { return statements_; }
    std::size_t cost() const { return cost_; }

private:
    bool next_is(char c) const { return i_ + 1 < s_.size() && s_[i_ + 1] == c; }

    // Something that is not whitespace or a comment: a statement has begun.
    void token() {
        if (!in_statement_) ++statements_;
        in_statement_ = true;
    }

    // The length of the run of operator characters from `at` to its end;
    // each run's end is found once, so the check itself stays linear.
    std::size_t run_length(std::size_t at) {
        if (at < run_start_ || at >= run_end_) {
            run_start_ = at;
            run_end_ = at;
            while (run_end_ < s_.size() && op_char(s_[run_end_])) ++run_end_;
        }
        return run_end_ - at;
    }

    void line_comment() {
        while (i_ < s_.size() && s_[i_] != '\n' && s_[i_] != '\r') ++i_;
    }

    // Nested /* */ comments. Inside one, `/*` matches the rest of its run of
    // operator characters (xcstart) before all but two are put back.
    void block_comment() {
        cost_ += run_length(i_);
        i_ += 2;
        std::size_t depth = 1;
        while (i_ < s_.size() && depth > 0) {
            if (s_[i_] == '/' && next_is('*')) {
                cost_ += run_length(i_);
                ++depth;
                i_ += 2;
            } else if (s_[i_] == '*' && next_is('/')) {
                --depth;
                i_ += 2;
            } else {
                ++i_;
            }
        }
    }

    // An operator: the lexer matches the whole run, cuts it before a comment
    // start, and, unless it holds one of ~!@#^&|`?%, drops its trailing + and
    // - down to one character; the rest is matched again (the whole run
    // each time): a tail of t such characters costs t scans of the run.
    void operator_run() {
        token();
        const std::size_t n = run_length(i_);
        std::size_t part = n;  // up to a comment start inside the run
        for (std::size_t k = 0; k + 1 < n; ++k) {
            if ((s_[i_ + k] == '/' && s_[i_ + k + 1] == '*') || (s_[i_ + k] == '-' && s_[i_ + k + 1] == '-')) {
                part = k;
                break;
            }
        }
        const std::string_view op = s_.substr(i_, part);
        std::size_t tail = 0;
        if (op.find_first_of("~!@#^&|`?%") == std::string_view::npos)
            while (tail < op.size() && (op[op.size() - 1 - tail] == '+' || op[op.size() - 1 - tail] == '-')) ++tail;
        cost_ += n * (1 + tail);
        i_ += part;
    }

    // '…' or "…" (doubled quote inside); with backslash escapes for E'…'.
    void quoted(char quote, bool backslash_escapes) {
        ++i_;
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (backslash_escapes && c == '\\') {
                i_ += 2;
            } else if (c == quote) {
                if (next_is(quote)) {
                    i_ += 2;
                } else {
                    ++i_;
                    return;
                }
            } else {
                ++i_;
            }
        }
    }

    // $1 (a parameter), $tag$…$tag$ (a dollar-quoted string), or a lone $.
    void dollar() {
        std::size_t k = i_ + 1;
        if (k < s_.size() && s_[k] >= '0' && s_[k] <= '9') {
            while (k < s_.size() && s_[k] >= '0' && s_[k] <= '9') ++k;
            i_ = k;
            return;
        }
        if (k < s_.size() && ident_start(s_[k]))
            while (k < s_.size() && dolq_cont(s_[k])) ++k;
        if (k >= s_.size() || s_[k] != '$') {
            ++i_;
            return;
        }
        const std::string_view delimiter = s_.substr(i_, k + 1 - i_);
        const auto end = s_.find(delimiter, k + 1);
        i_ = end == std::string_view::npos ? s_.size() : end + delimiter.size();
    }

    // A keyword or identifier ($ continues one); E'…', B'…', X'…', N'…',
    // U&'…' and U&"…" are strings and identifiers with a prefix.
    void identifier() {
        const std::size_t start = i_;
        if ((s_[i_] == 'U' || s_[i_] == 'u') && next_is('&') && i_ + 2 < s_.size() &&
            (s_[i_ + 2] == '\'' || s_[i_ + 2] == '"')) {
            i_ += 2;
            quoted(s_[i_], false);
            return;
        }
        while (i_ < s_.size() && ident_cont(s_[i_])) ++i_;
        if (i_ - start == 1 && i_ < s_.size() && s_[i_] == '\'') {
            const char prefix = s_[start];
            quoted('\'', prefix == 'E' || prefix == 'e');
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::size_t statements_ = 0;
    std::size_t cost_ = 0;
    bool in_statement_ = false;
    std::size_t run_start_ = 0, run_end_ = 0;  // the run of operator characters last measured
};

}  // namespace

expected<text_shape, parse_error> check_text(std::string_view sql, const text_limits& limits) {
    if (sql.find('\0') != std::string_view::npos)
        return unexpected(parse_error{"the statement contains a NUL byte", 0, parse_error::kind::encoding});
    if (!is_valid_utf8(sql))
        return unexpected(parse_error{"the statement is not valid UTF-8 (client_encoding is UTF8)", 0,
                                      parse_error::kind::encoding});
    scanner s(sql);
    s.run();
    if (s.statements() > limits.max_statements)
        return unexpected(parse_error{fmt::format("the query string holds {} statements, more than "
                                                  "listen.max_statements_per_query={}",
                                                  s.statements(), limits.max_statements),
                                      0, parse_error::kind::limit});
    if (s.cost() > lexer_cost_per_byte * sql.size() + lexer_cost_allowance)
        return unexpected(parse_error{
            "the statement repeats operator characters or comment starts (/*) in runs that make PostgreSQL's "
            "lexer rescan them quadratically",
            0, parse_error::kind::limit});
    return text_shape{s.statements(), s.cost()};
}

}  // namespace pgsieve::parser
