#include <pgsieve/common/log.hpp>
#include <pgsieve/common/time.hpp>

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

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    // Most text needs no escaping: copy it whole (the audit writes several strings a statement).
    const bool plain = std::none_of(s.begin(), s.end(), [](char c) {
        return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    });
    if (plain) {
        out += s;
        out += '"';
        return;
    }
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
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
