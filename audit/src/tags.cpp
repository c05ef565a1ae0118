#include <pgsieve/audit/tags.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/common/utf8.hpp>

#include <algorithm>

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

// Percent-decoding, '+' as a space (MCP Toolbox encodes with Go's
// url.QueryEscape); the result is made valid UTF-8 (a %ff stays readable).
std::string url_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
            continue;
        }
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
    return valid_utf8(out);
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
    // Every comment's pairs, faithfully: a key given once (or always with the
    // same value) is a string; a key comments disagree on is the array of
    // its values in text order, so a comment the model wrote cannot hide the
    // tool's. Tags are client-supplied: they are recorded, never trusted.
    std::vector<std::pair<std::string, std::vector<std::string>>> keys;
    if (sql.find("/*") != std::string_view::npos) {  // cheap test first: most statements carry no comment
        for (auto& [key, value] : sqlcommenter_tags(sql)) {
            // application_name is the connection's; a comment's is kept apart.
            std::string name = key == "application_name" ? "comment_application_name" : std::move(key);
            auto it = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.first == name; });
            if (it == keys.end()) keys.emplace_back(std::move(name), std::vector<std::string>{std::move(value)});
            else if (std::find(it->second.begin(), it->second.end(), value) == it->second.end())
                it->second.push_back(std::move(value));
        }
    }
    std::string out = "{";
    for (const auto& [key, values] : keys) {
        if (out.size() > 1) out += ',';
        log::append_json_string(out, key);
        out += ':';
        if (values.size() == 1) {
            log::append_json_string(out, values[0]);
            continue;
        }
        out += '[';
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i) out += ',';
            log::append_json_string(out, values[i]);
        }
        out += ']';
    }
    if (!application_name.empty()) {
        if (out.size() > 1) out += ',';
        log::append_json_string(out, "application_name");
        out += ':';
        log::append_json_string(out, valid_utf8(application_name));
    }
    out += '}';
    return out;
}

}  // namespace pgsieve::audit
