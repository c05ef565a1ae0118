#include "yaml_reader.hpp"

#include <pgsieve/common/utf8.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace pgsieve::config::detail {

namespace {

// yaml-cpp's marks are 0-based and absent (-1) on synthesized nodes.
int line_of(const YAML::Node& node, int fallback) {
    if (!node || node.IsNull()) return fallback;
    const int line = node.Mark().line;
    return line >= 0 ? line + 1 : fallback;
}

std::string_view type_name(const YAML::Node& node) {
    if (!node || node.IsNull()) return "nothing";
    if (node.IsMap()) return "a mapping";
    if (node.IsSequence()) return "a list";
    return "a scalar";
}

}  // namespace

std::string join_key(std::string_view parent, std::string_view segment) {
    const bool quote = segment.find_first_of(". ") != std::string_view::npos;
    std::string seg = quote ? fmt::format("\"{}\"", segment) : std::string(segment);
    return parent.empty() ? seg : fmt::format("{}.{}", parent, seg);
}

void yaml_reader::error(const located& at, std::string message) {
    error(at.line, at.key, std::move(message));
}

void yaml_reader::error(int line, std::string key, std::string message) {
    errors_.push_back(load_error{file_, line, std::move(key), std::move(message)});
}

std::vector<std::pair<std::string, located>> yaml_reader::mapping(const located& at, bool null_is_empty) {
    std::vector<std::pair<std::string, located>> out;
    if (at.is_null() && null_is_empty) return out;
    if (!at.node || !at.node.IsMap()) {
        error(at, fmt::format("expected a mapping, found {}", type_name(at.node)));
        return out;
    }
    std::set<std::string> seen;
    for (auto it = at.node.begin(); it != at.node.end(); ++it) {
        const int key_line = line_of(it->first, at.line);
        if (!it->first.IsScalar()) {
            error(key_line, at.key, "keys must be plain names");
            continue;
        }
        const std::string name = it->first.Scalar();
        const std::string key = join_key(at.key, name);
        if (!seen.insert(name).second) {
            error(key_line, key, "duplicate key (a later entry would silently replace the earlier one)");
            continue;
        }
        out.emplace_back(name, located{it->second, key, key_line});
    }
    return out;
}

std::vector<std::pair<std::string, located>> yaml_reader::mapping(const located& at,
                                                                  std::initializer_list<std::string_view> allowed,
                                                                  bool null_is_empty) {
    return mapping(at, std::span<const std::string_view>(allowed.begin(), allowed.size()), null_is_empty);
}

std::vector<std::pair<std::string, located>> yaml_reader::mapping(const located& at,
                                                                  std::span<const std::string_view> allowed,
                                                                  bool null_is_empty) {
    // Copied into a new vector rather than erased in place: assigning a
    // YAML::Node (as erasing shifts elements) writes through into the
    // document instead of rebinding, which paired later keys with the
    // values of others after an unknown key.
    std::vector<std::pair<std::string, located>> out;
    for (auto& field : mapping(at, null_is_empty)) {
        if (std::find(allowed.begin(), allowed.end(), field.first) != allowed.end()) {
            out.push_back(std::move(field));
            continue;
        }
        std::string expected;
        for (const auto name : allowed) expected += (expected.empty() ? "" : ", ") + std::string(name);
        error(field.second, fmt::format("unknown key (expected one of: {})", expected));
    }
    return out;
}

std::vector<located> yaml_reader::sequence(const located& at) {
    std::vector<located> out;
    if (!at.node || !at.node.IsSequence()) {
        error(at, fmt::format("expected a list, found {}", type_name(at.node)));
        return out;
    }
    std::size_t i = 0;
    for (const auto& item : at.node) {
        out.push_back(located{item, fmt::format("{}[{}]", at.key, i++), line_of(item, at.line)});
    }
    return out;
}

std::optional<std::string> yaml_reader::string(const located& at) {
    if (!at.node || !at.node.IsScalar()) {
        error(at, fmt::format("expected a value, found {}", type_name(at.node)));
        return std::nullopt;
    }
    return at.node.Scalar();
}

std::optional<bool> yaml_reader::boolean(const located& at) {
    const auto text = string(at);
    if (!text) return std::nullopt;
    if (*text == "true") return true;
    if (*text == "false") return false;
    error(at, fmt::format("expected true or false, found \"{}\"", *text));
    return std::nullopt;
}

std::optional<std::int64_t> yaml_reader::integer(const located& at, std::int64_t min, std::int64_t max) {
    const auto text = string(at);
    if (!text) return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc{} || end != text->data() + text->size()) {
        error(at, fmt::format("expected a whole number, found \"{}\"", *text));
        return std::nullopt;
    }
    if (value < min || value > max) {
        error(at, fmt::format("{} is out of range ({}..{})", value, min, max));
        return std::nullopt;
    }
    return value;
}

std::optional<duration> yaml_reader::duration_value(const located& at, bool allow_zero) {
    const auto text = string(at);
    if (!text) return std::nullopt;
    std::int64_t amount = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), amount);
    const std::string_view unit(end, text->data() + text->size());
    std::int64_t scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    // A day in milliseconds times this bound stays far from overflow.
    constexpr std::int64_t max_amount = 1'000'000'000;
    if (ec != std::errc{} || end == text->data() || scale == 0 || amount < 0 || amount > max_amount) {
        error(at, fmt::format("expected a duration with a unit (e.g. 50ms, 10s, 30m, 1h, 7d), found \"{}\"", *text));
        return std::nullopt;
    }
    if (amount == 0 && !allow_zero) {
        error(at, "must be greater than zero");
        return std::nullopt;
    }
    return duration(amount * scale);
}

std::optional<std::vector<std::string>> yaml_reader::string_list(const located& at, bool allow_empty) {
    if (!at.node || !at.node.IsSequence()) {
        error(at, fmt::format("expected a list, found {}", type_name(at.node)));
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (const auto& item : sequence(at)) {
        auto s = string(item);
        if (!s) { ok = false; continue; }
        if (s->empty()) { error(item, "empty name"); ok = false; continue; }
        if (std::find(out.begin(), out.end(), *s) != out.end()) {
            error(item, fmt::format("\"{}\" is listed twice", *s));
            ok = false;
            continue;
        }
        out.push_back(std::move(*s));
    }
    if (ok && out.empty() && !allow_empty) {
        error(at, "the list is empty");
        return std::nullopt;
    }
    if (!ok) return std::nullopt;
    return out;
}

std::optional<std::size_t> yaml_reader::one_of(const located& at, std::initializer_list<std::string_view> names) {
    const auto text = string(at);
    if (!text) return std::nullopt;
    std::size_t i = 0;
    std::string expected;
    for (const auto name : names) {
        if (*text == name) return i;
        expected += (i++ ? " | " : "") + std::string(name);
    }
    error(at, fmt::format("\"{}\" is not one of: {}", *text, expected));
    return std::nullopt;
}

std::optional<std::string> yaml_reader::identifier(const located& at, std::string_view text) {
    if (text.empty() || text.size() > 63) {
        error(at, fmt::format("\"{}\" is not a valid name (1 to 63 bytes)", printable_name(text)));
        return std::nullopt;
    }
    if (!is_printable_name(text)) {
        // A newline in a role or policy name became a statement in `pgsieve grants`' script.
        error(at, fmt::format("\"{}\" is not a valid name: it has control characters or invalid UTF-8",
                              printable_name(text)));
        return std::nullopt;
    }
    return std::string(text);
}

bool is_printable_name(std::string_view text) {
    if (!is_valid_utf8(text)) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) return false;
        // C1 controls, U+0080-U+009F.
        if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) return false;
    }
    return true;
}

std::string printable_name(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return valid_utf8(out);
}

std::optional<qualified_name> yaml_reader::qualified(const located& at, std::string_view text) {
    const auto dot = text.find('.');
    if (dot == std::string_view::npos || text.find('.', dot + 1) != std::string_view::npos) {
        error(at, fmt::format("\"{}\" must be a schema-qualified name: schema.name", text));
        return std::nullopt;
    }
    auto schema = identifier(at, text.substr(0, dot));
    auto name = identifier(at, text.substr(dot + 1));
    if (!schema || !name) return std::nullopt;
    return qualified_name{std::move(*schema), std::move(*name)};
}

const located* find(const std::vector<std::pair<std::string, located>>& fields, std::string_view key) {
    for (const auto& [name, value] : fields) {
        if (name == key) return &value;
    }
    return nullptr;
}

}  // namespace pgsieve::config::detail

namespace pgsieve::config::detail {

std::optional<std::uint64_t> yaml_reader::byte_size(const located& at) {
    const auto text = string(at);
    if (!text) return std::nullopt;
    std::size_t digits = 0;
    while (digits < text->size() && (*text)[digits] >= '0' && (*text)[digits] <= '9') ++digits;
    std::string unit = text->substr(digits);
    while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
    static const std::pair<std::string_view, std::uint64_t> units[] = {
        {"", 1}, {"B", 1}, {"kB", 1ull << 10}, {"KB", 1ull << 10}, {"KiB", 1ull << 10},
        {"MB", 1ull << 20}, {"MiB", 1ull << 20}, {"GB", 1ull << 30}, {"GiB", 1ull << 30},
    };
    const auto bad = [&] {
        error(at, fmt::format("expected a size such as 65536, 512kB, 10MB or 1GB, found \"{}\"", *text));
        return std::nullopt;
    };
    if (digits == 0 || digits > 12) return bad();
    for (const auto& [name, factor] : units) {
        if (unit != name) continue;
        const std::uint64_t amount = std::stoull(text->substr(0, digits));  // at most 12 digits: fits
        if (amount > (std::uint64_t{1} << 50) / factor) {
            error(at, fmt::format("\"{}\" is more than 1PB", *text));
            return std::nullopt;
        }
        const std::uint64_t value = amount * factor;
        if (value == 0) {
            error(at, "must be more than 0");
            return std::nullopt;
        }
        return value;
    }
    return bad();
}

}  // namespace pgsieve::config::detail
