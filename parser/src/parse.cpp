#include "walker.hpp"

#include <pgsieve/parser/parse.hpp>

#include <pg_query.h>

#include <cstring>
#include <memory>

namespace pgsieve::parser {

int character_position(std::string_view text, int byte_offset) {
    if (byte_offset < 0) return 0;
    int chars = 0;
    for (int i = 0; i < byte_offset && i < static_cast<int>(text.size()); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++chars;
    }
    return chars + 1;
}

expected<std::vector<statement_facts>, parse_error> parse(std::string_view sql) {
    const std::string text(sql);  // libpg_query needs a NUL-terminated string
    PgQueryParseResult result = pg_query_parse(text.c_str());
    std::unique_ptr<PgQueryParseResult, void (*)(PgQueryParseResult*)> guard(
        &result, [](PgQueryParseResult* r) { pg_query_free_parse_result(*r); });
    if (result.error) {
        return unexpected(parse_error{result.error->message,
                                      result.error->cursorpos > 0 ? result.error->cursorpos : 0});
    }

    simdjson::dom::parser json;
    simdjson::dom::element root;
    if (json.parse(result.parse_tree, std::strlen(result.parse_tree)).get(root) != simdjson::SUCCESS)
        return unexpected(parse_error{"internal error: unreadable parse tree", 0});

    std::vector<statement_facts> out;
    simdjson::dom::array stmts;
    if (root["stmts"].get_array().get(stmts) != simdjson::SUCCESS) return out;  // empty or comment-only
    for (simdjson::dom::element raw : stmts) {
        statement_facts facts;
        simdjson::dom::object raw_object;
        if (raw.get_object().get(raw_object) != simdjson::SUCCESS) continue;
        const int location = detail::int_field(raw_object, "stmt_location", 0);
        const int length = detail::int_field(raw_object, "stmt_len", 0);
        facts.location = location;
        facts.text = length > 0 ? text.substr(location, length) : text.substr(location);
        simdjson::dom::element stmt;
        if (raw_object["stmt"].get(stmt) == simdjson::SUCCESS) detail::walker(facts).statement(stmt);
        out.push_back(std::move(facts));
    }
    return out;
}

std::string normalize(std::string_view sql) {
    const std::string text(sql);
    PgQueryNormalizeResult r = pg_query_normalize(text.c_str());
    std::string out = r.error ? std::string() : std::string(r.normalized_query);
    pg_query_free_normalize_result(r);
    return out;
}

}  // namespace pgsieve::parser
