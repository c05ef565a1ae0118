#include "tokens.hpp"
#include "walker.hpp"

#include <pgsieve/parser/parse.hpp>

#include <fmt/format.h>
#include <pg_query.h>

#include <pthread.h>

#include <cstring>
#include <limits>
#include <memory>

namespace pgsieve::parser {

namespace {

// libpg_query recurses once per nesting level (about 120 bytes of stack a
// level, and a level can cost as little as two bytes of text: `1+1+…`):
// a text of this size cannot take more than ~0.5 MiB of stack, so it is
// parsed on the calling thread. Longer ones get a thread with a stack sized
// for them, so no statement can overflow a worker's stack.
constexpr std::size_t inline_parse_bytes = 8 * 1024;
constexpr std::size_t stack_bytes_per_text_byte = 512;
constexpr std::size_t min_parse_stack = 64ull << 20;

// The JSON of a parse tree nests two to three levels per node; beyond the
// walker's own limit it is refused as too deep.
constexpr std::size_t max_json_depth = 4 * detail::max_walk_depth;
// A parser whose buffers grew past this is not kept for the next statement.
constexpr std::size_t kept_json_capacity = 1u << 20;

simdjson::dom::parser& json_parser() {
    thread_local simdjson::dom::parser parser = [] {
        simdjson::dom::parser p;
        if (p.allocate(64 * 1024, max_json_depth) != simdjson::SUCCESS) {
            // Out of memory now: the first parse allocates again (with the default depth).
        }
        return p;
    }();
    return parser;
}

using result_type = expected<std::vector<statement_facts>, parse_error>;

result_type parse_here(const std::string& text) {
    PgQueryParseResult result = pg_query_parse(text.c_str());
    std::unique_ptr<PgQueryParseResult, void (*)(PgQueryParseResult*)> guard(
        &result, [](PgQueryParseResult* r) { pg_query_free_parse_result(*r); });
    if (result.error) {
        return unexpected(parse_error{result.error->message, result.error->cursorpos > 0 ? result.error->cursorpos : 0,
                                      parse_error::kind::syntax});
    }

    const std::size_t json_size = std::strlen(result.parse_tree);
    simdjson::dom::parser large;
    const bool use_large = json_size > kept_json_capacity && large.allocate(json_size, max_json_depth) == simdjson::SUCCESS;
    simdjson::dom::parser& json = use_large ? large : json_parser();
    simdjson::dom::element root;
    if (const auto error = json.parse(result.parse_tree, json_size).get(root); error != simdjson::SUCCESS) {
        if (error == simdjson::DEPTH_ERROR)
            return unexpected(parse_error{
                fmt::format("the statement nests expressions more than {} levels deep, which pgsieve does not analyse",
                            detail::max_walk_depth),
                0, parse_error::kind::too_deep});
        return unexpected(parse_error{"internal error: unreadable parse tree", 0, parse_error::kind::internal});
    }

    std::vector<statement_facts> out;
    simdjson::dom::array stmts;
    if (root["stmts"].get_array().get(stmts) != simdjson::SUCCESS) return out;  // empty or comment-only
    for (simdjson::dom::element raw : stmts) {
        statement_facts facts;
        std::int64_t location = 0, length = 0;
        if (raw["stmt_location"].get_int64().get(location) != simdjson::SUCCESS) location = 0;
        if (raw["stmt_len"].get_int64().get(length) != simdjson::SUCCESS) length = 0;
        if (location < 0 || static_cast<std::size_t>(location) > text.size()) location = 0;
        facts.location = static_cast<int>(location);
        facts.text = length > 0 ? text.substr(location, length) : text.substr(location);
        detail::walker w(facts);
        if (auto n = w.open_message(raw, "RawStmt")) {
            detail::walk_ctx ctx;
            w.raw_stmt(*n, ctx);
            w.finish(*n, ctx);
        }
        // The query PREPARE and DECLARE wrap has no location in the tree:
        // its text, which the session keeps to decide again, is found by
        // the lexer (after the statement's first top-level AS / FOR).
        if ((facts.kind == statement_kind::prepare || facts.kind == statement_kind::declare_cursor) &&
            facts.inner.size() == 1) {
            const auto at = detail::after_keyword(
                facts.text, facts.kind == statement_kind::prepare ? detail::token_as : detail::token_for);
            if (at == std::string_view::npos) {
                facts.unsupported.push_back({"a PREPARE or DECLARE whose query pgsieve cannot find", facts.location});
            } else {
                facts.inner[0].text = facts.text.substr(at);
                facts.inner[0].location = facts.location + static_cast<int>(at);
            }
        }
        out.push_back(std::move(facts));
    }
    return out;
}

// The calling thread's stack, when a caller made it for parsing (set_thread_stack_size).
thread_local std::size_t thread_stack_bytes = 0;

// Runs `work` on the calling thread for a short text (or one the thread's
// known stack fits), else on a thread of its own whose stack fits the text's
// deepest possible nesting. False when that thread cannot be started.
template <typename Work>
bool with_stack_for(const std::string& text, Work&& work) {
    if (text.size() <= inline_parse_bytes || text.size() * stack_bytes_per_text_byte <= thread_stack_bytes) {
        work();
        return true;
    }
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, stack_size_for(text.size()));
    pthread_t thread;
    auto run = [](void* arg) -> void* {
        (*static_cast<std::remove_reference_t<Work>*>(arg))();
        return nullptr;
    };
    const int error = pthread_create(&thread, &attributes, run, &work);
    pthread_attr_destroy(&attributes);
    if (error != 0) return false;
    pthread_join(thread, nullptr);
    return true;
}

}  // namespace

void set_thread_stack_size(std::size_t bytes) { thread_stack_bytes = bytes; }

std::size_t stack_size_for(std::size_t text_bytes) {
    return std::max(min_parse_stack, text_bytes * stack_bytes_per_text_byte);
}

int character_position(std::string_view text, int byte_offset) {
    if (byte_offset < 0) return 0;
    int chars = 0;
    for (int i = 0; i < byte_offset && i < static_cast<int>(text.size()); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++chars;
    }
    return chars + 1;
}

expected<std::vector<statement_facts>, parse_error> parse(std::string_view sql, const text_limits& limits) {
    if (auto checked = check_text(sql, limits); !checked) return unexpected(std::move(checked.error()));
    const std::string text(sql);  // libpg_query needs a NUL-terminated string
    std::optional<result_type> result;
    if (!with_stack_for(text, [&] { result.emplace(parse_here(text)); }))
        return unexpected(parse_error{fmt::format("could not start the analysis of a {}-byte statement", text.size()), 0,
                                      parse_error::kind::internal});
    return std::move(*result);
}

std::optional<std::string> normalize(std::string_view sql) {
    if (!check_text(sql, {std::numeric_limits<std::size_t>::max()})) return std::nullopt;
    const std::string text(sql);
    std::string out;
    const bool ran = with_stack_for(text, [&] {
        PgQueryNormalizeResult r = pg_query_normalize(text.c_str());
        if (!r.error) out = r.normalized_query;
        pg_query_free_normalize_result(r);
    });
    if (!ran) return std::nullopt;
    return out;
}

}  // namespace pgsieve::parser
