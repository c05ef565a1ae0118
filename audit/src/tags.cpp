#include <pgsieve/audit/tags.hpp>
#include <pgsieve/common/log.hpp>

#include "sql_scan.hpp"

#include <cctype>
#include <optional>
#include <set>

namespace pgsieve::audit {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            const int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// A comment body as `key='value'[, key='value']…`, or nothing.
std::optional<tag_list> parse_pairs(std::string_view body) {
    tag_list pairs;
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    };
    skip_space();
    while (i < body.size()) {
        const std::size_t key_start = i;
        while (i < body.size() && body[i] != '=' && body[i] != ',' && !std::isspace(static_cast<unsigned char>(body[i])))
            ++i;
        const std::string_view key = body.substr(key_start, i - key_start);
        skip_space();
        if (key.empty() || i >= body.size() || body[i] != '=') return std::nullopt;
        ++i;
        skip_space();
        if (i >= body.size() || body[i] != '\'') return std::nullopt;
        ++i;
        std::string value;
        bool closed = false;
        while (i < body.size()) {
            if (body[i] == '\\' && i + 1 < body.size()) {
                value += body[i + 1];
                i += 2;
            } else if (body[i] == '\'') {
                closed = true;
                ++i;
                break;
            } else {
                value += body[i++];
            }
        }
        if (!closed) return std::nullopt;
        pairs.emplace_back(url_decode(key), url_decode(value));
        skip_space();
        if (i < body.size()) {
            if (body[i] != ',') return std::nullopt;
            ++i;
            skip_space();
        }
    }
    return pairs;
}

}  // namespace

tag_list sqlcommenter_tags(std::string_view sql) {
    tag_list tags;
    std::size_t i = 0;
    const std::size_t n = sql.size();
    while (i < n) {
        const char c = sql[i];
        if (c == '\'' || c == '"') {  // a literal or a quoted identifier
            i = scan::quoted_end(sql, i, c);
        } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n') ++i;
        } else if (c == '$') {
            const auto end = scan::dollar_quote_end(sql, i);
            i = end ? end : i + 1;
        } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
            const std::size_t start = i + 2;
            i = scan::block_comment_end(sql, i);
            const std::size_t body_end = sql.substr(0, i).ends_with("*/") ? i - 2 : i;
            if (auto pairs = parse_pairs(sql.substr(start, body_end - start))) {
                tags.insert(tags.end(), pairs->begin(), pairs->end());
            }
        } else {
            ++i;
        }
    }
    return tags;
}

std::string tags_json(std::string_view sql, std::string_view application_name) {
    std::string out = "{";
    std::set<std::string> seen;
    auto add = [&](const std::string& key, std::string_view value) {
        if (!seen.insert(key).second) return;
        if (out.size() > 1) out += ',';
        log::append_json_string(out, key);
        out += ':';
        log::append_json_string(out, value);
    };
    // Cheap test first: most statements carry no comment at all.
    if (sql.find("/*") != std::string_view::npos) {
        for (const auto& [key, value] : sqlcommenter_tags(sql)) add(key, value);
    }
    if (!application_name.empty()) add("application_name", application_name);
    out += '}';
    return out;
}

}  // namespace pgsieve::audit
