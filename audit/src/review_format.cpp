#include <pgsieve/audit/review_format.hpp>
#include <pgsieve/common/log.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::audit {

namespace {

// Recorded text is the clients' (SQL, names, errors): its control
// characters would act on the reviewer's terminal (ESC[2K erases a line)
// or a spreadsheet's. Each C0 control but the line breaks and tab, DEL and
// each C1 control (U+0080-U+009F) is printed as \xNN / \u00NN: shown,
// never acted on. (The JSON forms escape them as JSON does.)
std::string printable(std::string_view s, bool keep_line_breaks) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
            static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(s[++i]));
        } else if ((c < 0x20 && !(keep_line_breaks && (c == '\n' || c == '\r' || c == '\t'))) || c == 0x7F) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string text_of(const cell& c) {
    if (const auto* n = std::get_if<std::int64_t>(&c)) return std::to_string(*n);
    if (const auto* s = std::get_if<std::string>(&c)) return printable(*s, true);
    return {};
}

// Characters, not bytes, so UTF-8 text aligns.
std::size_t width(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string cut(std::string s, std::size_t max_width) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\t', ' ');
    if (width(s) <= max_width) return s;
    std::size_t chars = 0, i = 0;
    for (; i < s.size(); ++i) {
        if ((s[i] & 0xC0) != 0x80 && ++chars == max_width) break;
    }
    s.resize(i);
    return s + "…";
}

bool holds_json(std::string_view column) {
    return column == "tables" || column == "columns" || column == "tags" || column == "detail";
}

}  // namespace

std::string format_table(const result_set& r, std::size_t max_width) {
    std::vector<std::vector<std::string>> cells;
    std::vector<std::size_t> widths;
    std::vector<std::string> columns;
    for (const auto& c : r.columns) columns.push_back(printable(c, false));
    for (const auto& c : columns) widths.push_back(width(c));
    for (const auto& row : r.rows) {
        auto& out = cells.emplace_back();
        for (std::size_t i = 0; i < row.size(); ++i) {
            out.push_back(cut(text_of(row[i]), max_width));
            widths[i] = std::max(widths[i], width(out.back()));
        }
    }
    std::string text;
    if (!r.title.empty()) text += printable(r.title, false) + "\n";
    auto line = [&](const std::vector<std::string>& values) {
        std::string l;
        for (std::size_t i = 0; i < values.size(); ++i) {
            l += values[i];
            if (i + 1 < values.size()) l += std::string(widths[i] - width(values[i]) + 2, ' ');
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        text += l + "\n";
    };
    line(columns);
    std::vector<std::string> rule;
    for (const auto w : widths) rule.push_back(std::string(w, '-'));
    line(rule);
    for (const auto& c : cells) line(c);
    text += fmt::format("({} row{})\n", r.rows.size(), r.rows.size() == 1 ? "" : "s");
    return text;
}

std::string format_vertical(const result_set& r) {
    std::string text;
    std::size_t w = 0;
    for (const auto& c : r.columns) w = std::max(w, width(printable(c, false)));
    for (const auto& row : r.rows) {
        text += "-- " + printable(r.title, false) + "\n";
        for (std::size_t i = 0; i < row.size(); ++i) {
            std::string value = text_of(row[i]);
            // Indent continuation lines (a policy's source text) under the value.
            std::string indented;
            for (const char c : value) {
                indented += c;
                if (c == '\n') indented += std::string(w + 2, ' ');
            }
            while (!indented.empty() && (indented.back() == ' ' || indented.back() == '\n')) indented.pop_back();
            const auto column = printable(r.columns[i], false);
            text += column + ":" + std::string(w - std::min(w, width(column)) + 1, ' ') + indented + "\n";
        }
    }
    if (r.rows.empty()) text += "-- " + printable(r.title, false) + ": none\n";
    return text;
}

std::string json_object(const std::vector<std::string>& columns, const std::vector<cell>& row) {
    std::string out = "{";
    for (std::size_t i = 0; i < row.size(); ++i) {
        if (i) out += ',';
        log::append_json_string(out, columns[i]);
        out += ':';
        if (const auto* n = std::get_if<std::int64_t>(&row[i])) {
            out += std::to_string(*n);
        } else if (const auto* s = std::get_if<std::string>(&row[i])) {
            if (holds_json(columns[i]) && !s->empty()) out += *s;
            else log::append_json_string(out, *s);
        } else {
            out += "null";
        }
    }
    return out + "}";
}

std::string json_rows(const result_set& r) {
    std::string out = "[";
    for (std::size_t i = 0; i < r.rows.size(); ++i) {
        if (i) out += ',';
        out += json_object(r.columns, r.rows[i]);
    }
    return out + "]";
}

std::string json_sections(const std::vector<result_set>& sections) {
    std::string out = "{";
    for (std::size_t i = 0; i < sections.size(); ++i) {
        if (i) out += ',';
        log::append_json_string(out, sections[i].title);
        out += ':';
        out += json_rows(sections[i]);
    }
    return out + "}";
}

namespace {
std::string csv_field(std::string_view text) {
    const auto s = printable(text, true);
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}
}  // namespace

std::string csv_header(const std::vector<std::string>& columns) {
    std::string out;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (i) out += ',';
        out += csv_field(columns[i]);
    }
    return out + "\r\n";
}

std::string csv_row(const std::vector<cell>& row) {
    std::string out;
    for (std::size_t i = 0; i < row.size(); ++i) {
        if (i) out += ',';
        const auto* text = std::get_if<std::string>(&row[i]);
        out += csv_field(text ? *text : text_of(row[i]));
    }
    return out + "\r\n";
}

}  // namespace pgsieve::audit
