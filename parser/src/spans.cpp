#include <pgsieve/parser/spans.hpp>

#include "tokens.hpp"

#include <algorithm>
#include <string>

namespace pgsieve::parser {

namespace {

// pg_query.proto, enum Token.
constexpr int open_paren = 40, close_paren = 41, comma = 44, dot = 46, open_bracket = 91, close_bracket = 93;
constexpr int ident = 258, uident = 259, sconst = 261, usconst = 262, typecast = 268, equals_greater = 271;
constexpr int first_keyword = 272, keyword_as = 294, keyword_cast = 322;

bool is_name(int kind) { return kind == ident || kind == uident || kind >= first_keyword; }

}  // namespace

struct token_index::impl {
    std::vector<detail::token> tokens;

    // The index of the token that starts at `location`, or -1.
    int at(int location) const {
        std::size_t lo = 0, hi = tokens.size();
        while (lo < hi) {
            const auto mid = (lo + hi) / 2;
            if (tokens[mid].start < location) lo = mid + 1;
            else hi = mid;
        }
        return lo < tokens.size() && tokens[lo].start == location ? static_cast<int>(lo) : -1;
    }
    // The first token starting at or after `location`.
    int from(int location) const {
        std::size_t lo = 0, hi = tokens.size();
        while (lo < hi) {
            const auto mid = (lo + hi) / 2;
            if (tokens[mid].start < location) lo = mid + 1;
            else hi = mid;
        }
        return static_cast<int>(lo);
    }
    // The index of the bracket closing the one at `open`, or -1.
    int closing(int open) const {
        int depth = 0;
        for (int i = open; i < static_cast<int>(tokens.size()); ++i) {
            const int k = tokens[i].kind;
            if (k == open_paren || k == open_bracket) ++depth;
            else if (k == close_paren || k == close_bracket) {
                if (--depth == 0) return i;
            }
        }
        return -1;
    }
    int opening(int close) const {
        int depth = 0;
        for (int i = close; i >= 0; --i) {
            const int k = tokens[i].kind;
            if (k == close_paren || k == close_bracket) ++depth;
            else if (k == open_paren || k == open_bracket) {
                if (--depth == 0) return i;
            }
        }
        return -1;
    }
};

token_index::token_index(std::string_view text) : impl_(std::make_unique<impl>()) {
    impl_->tokens = detail::scan(text);
}

token_index::~token_index() = default;

bool token_index::ok() const { return !impl_->tokens.empty(); }

std::optional<span> token_index::name_at(int location) const {
    const auto& t = impl_->tokens;
    int i = impl_->at(location);
    if (i < 0 || !is_name(t[i].kind)) return std::nullopt;
    span out{t[i].start, t[i].end};
    while (i + 2 < static_cast<int>(t.size()) && t[i + 1].kind == dot && is_name(t[i + 2].kind)) {
        i += 2;
        out.end = t[i].end;
    }
    return out;
}

std::optional<token_index::call> token_index::call_at(int location) const {
    const auto& t = impl_->tokens;
    const auto name = name_at(location);
    if (!name) return std::nullopt;
    const int open = impl_->from(name->end);
    if (open >= static_cast<int>(t.size()) || t[open].kind != open_paren) return std::nullopt;
    const int close = impl_->closing(open);
    if (close < 0) return std::nullopt;
    call out{{name->start, t[close].end}, {}};
    int depth = 0;
    int start = open + 1;
    for (int i = open + 1; i <= close; ++i) {
        const int k = t[i].kind;
        if (k == equals_greater) return std::nullopt;
        if (k == open_paren || k == open_bracket) ++depth;
        else if ((k == close_paren || k == close_bracket) && i != close) --depth;
        if ((k == comma && depth == 0) || i == close) {
            if (i > start) out.arguments.push_back({t[start].start, t[i - 1].end});
            else if (k == comma) return std::nullopt;  // an empty argument cannot be
            start = i + 1;
        }
    }
    return out;
}

std::optional<token_index::cast> token_index::cast_at(int cast_location, int operand_start) const {
    const auto& t = impl_->tokens;
    const int c = impl_->at(cast_location);
    if (c < 0) return std::nullopt;
    cast out;
    if (t[c].kind == typecast) {
        // x::t — the operand runs from its first token to the `::`, widened
        // to the parentheses an operator's location leaves out: (a + b)::t.
        if (operand_start < 0 || operand_start >= cast_location) return std::nullopt;
        int first = impl_->from(operand_start);
        int depth = 0;
        for (int i = first; i < c; ++i) {
            const int k = t[i].kind;
            if (k == open_paren || k == open_bracket) ++depth;
            else if (k == close_paren || k == close_bracket) {
                if (depth > 0) {
                    --depth;
                } else {
                    const int open = impl_->opening(i);
                    if (open < 0) return std::nullopt;
                    first = std::min(first, open);
                }
            }
        }
        if (depth != 0 || first >= c) return std::nullopt;
        out.syntax = cast::form::postfix;
        out.operand = {t[first].start, t[c - 1].end};
        out.whole = {t[first].start, t[c].end};
        return out;
    }
    if (t[c].kind == keyword_cast) {
        // CAST ( x AS t )
        if (c + 1 >= static_cast<int>(t.size()) || t[c + 1].kind != open_paren) return std::nullopt;
        const int close = impl_->closing(c + 1);
        int depth = 0;
        for (int i = c + 2; i < close; ++i) {
            const int k = t[i].kind;
            if (k == open_paren || k == open_bracket) ++depth;
            else if (k == close_paren || k == close_bracket) --depth;
            else if (k == keyword_as && depth == 0) {
                if (i == c + 2) return std::nullopt;
                out.syntax = cast::form::cast_function;
                out.operand = {t[c + 2].start, t[i - 1].end};
                out.whole = {t[c].start, t[close].end};
                return out;
            }
        }
        return std::nullopt;
    }
    // A typed literal: type name, then one string constant.
    for (int i = c; i < static_cast<int>(t.size()); ++i) {
        if (t[i].kind == sconst || t[i].kind == usconst) {
            out.syntax = cast::form::typed_literal;
            out.operand = {t[i].start, t[i].end};
            out.whole = {t[c].start, t[i].end};
            return out;
        }
        if (!is_name(t[i].kind) && t[i].kind != dot) return std::nullopt;
    }
    return std::nullopt;
}

bool token_index::is_string_literal(span s) const {
    const int i = impl_->at(s.start);
    return i >= 0 && (impl_->tokens[i].kind == sconst || impl_->tokens[i].kind == usconst) && impl_->tokens[i].end == s.end;
}

}  // namespace pgsieve::parser
