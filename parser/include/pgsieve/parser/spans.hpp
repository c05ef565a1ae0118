#pragma once
// Where things are in a statement's text, for the policy layer's rewrites
// (scoped discovery splices filtered sub-queries in place of catalog
// relations, and guards around name-revealing calls and casts). Built from
// PostgreSQL's own lexer, so quoting, comments and dollar-quoting are read
// exactly as the server reads them. Only made when a rewrite is needed.

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace pgsieve::parser {

struct span {
    int start = 0;  // byte offsets in the text; [start, end)
    int end = 0;
};

class token_index {
public:
    explicit token_index(std::string_view text);
    ~token_index();
    token_index(const token_index&) = delete;
    token_index& operator=(const token_index&) = delete;

    // False when the lexer refused the text (then nothing is found).
    bool ok() const;

    // The (qualified) name that begins at `location`: a, a.b or a.b.c.
    std::optional<span> name_at(int location) const;

    // The function call whose name begins at `location`: the whole call,
    // name to closing parenthesis, and each argument between top-level
    // commas. Nullopt for anything else (a call with named arguments
    // included: `=>` is not split).
    struct call {
        span whole;
        std::vector<span> arguments;
    };
    std::optional<call> call_at(int location) const;

    // A conversion at `cast_location` (libpg_query's TypeCast location: the
    // `::`, the CAST keyword, or a typed literal's type name) whose operand
    // begins at `operand_start` (the least location inside the operand).
    struct cast {
        enum class form { postfix, cast_function, typed_literal };
        form syntax = form::postfix;
        span operand;  // the operand's text: x of x::t and CAST(x AS t), 'lit' of t 'lit'
        span whole;    // typed_literal: type name to literal (the rest need not be replaced)
    };
    std::optional<cast> cast_at(int cast_location, int operand_start) const;

    // Whether the span is exactly one string literal.
    bool is_string_literal(span s) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace pgsieve::parser
