#pragma once
// Structured logs: one JSON object a line on stderr, e.g.
//   {"ts":"2026-11-24T14:33:45.123456Z","level":"info","event":"listening","address":"127.0.0.1:6432"}
// Values are strings or numbers; each line is written with one call so
// lines from different threads never interleave.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace pgsieve::log {

enum class level { debug, info, warning, error };

struct field {
    std::string_view key;
    std::variant<std::string_view, std::int64_t> value;

    field(std::string_view k, std::string_view v) : key(k), value(v) {}
    field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
    field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    template <class Int>
        requires std::is_integral_v<Int>
    field(std::string_view k, Int v) : key(k), value(static_cast<std::int64_t>(v)) {}
};

void write(level lvl, std::string_view event, std::initializer_list<field> fields = {});
// Lines below this level are dropped (default: info).
void set_min_level(level lvl);

inline void info(std::string_view event, std::initializer_list<field> fields = {}) { write(level::info, event, fields); }
inline void warn(std::string_view event, std::initializer_list<field> fields = {}) { write(level::warning, event, fields); }
inline void error(std::string_view event, std::initializer_list<field> fields = {}) { write(level::error, event, fields); }
inline void debug(std::string_view event, std::initializer_list<field> fields = {}) { write(level::debug, event, fields); }

// JSON string escaping, shared with anything else that writes JSON by hand.
void append_json_string(std::string& out, std::string_view s);
// The same as a value: "…" with escapes.
std::string json_string(std::string_view s);

}  // namespace pgsieve::log
