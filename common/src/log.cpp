#include <pgsieve/common/log.hpp>
#include <pgsieve/common/time.hpp>
#include <pgsieve/common/utf8.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>

namespace pgsieve::log {

namespace {
std::atomic<level> min_level{level::info};

std::string_view name(level l) {
    switch (l) {
        case level::debug: return "debug";
        case level::info: return "info";
        case level::warning: return "warning";
        case level::error: return "error";
    }
    return "info";
}
}  // namespace

void set_min_level(level lvl) { min_level = lvl; }

std::string json_string(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

void append_json_string(std::string& out, std::string_view text) {
    // JSON text is UTF-8 (RFC 8259): a client's invalid bytes become U+FFFD.
    std::string fixed;
    if (!is_valid_utf8(text)) fixed = valid_utf8(text);
    const std::string_view s = fixed.empty() ? text : std::string_view(fixed);
    out += '"';
    // Most text needs no escaping: copy it whole (the audit writes several strings a statement).
    // DEL and the C1 controls (U+0080-U+009F, 0xC2 0x80-0x9F in UTF-8) are
    // escaped too: a terminal showing the JSON would act on them (U+009B is CSI).
    const bool plain = std::none_of(s.begin(), s.end(), [](char c) {
        return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == '\x7f' || c == '\xc2';
    });
    if (plain) {
        out += s;
        out += '"';
        return;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\xc2' && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
            static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(s[++i]));
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f')
                    out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
                else out += c;
        }
    }
    out += '"';
}

void write(level lvl, std::string_view event, std::initializer_list<field> fields) {
    if (lvl < min_level.load(std::memory_order_relaxed)) return;
    std::string line = fmt::format("{{\"ts\":\"{}\",\"level\":\"{}\",\"event\":",
                                   rfc3339(std::chrono::system_clock::now()), name(lvl));
    append_json_string(line, event);
    for (const auto& f : fields) {
        line += ',';
        append_json_string(line, f.key);
        line += ':';
        if (const auto* s = std::get_if<std::string_view>(&f.value)) append_json_string(line, *s);
        else line += std::to_string(std::get<std::int64_t>(f.value));
    }
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace pgsieve::log
