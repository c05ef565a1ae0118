#include <pgsieve/audit/records.hpp>

#include <fmt/format.h>
#include <pgsieve/common/log.hpp>
#include <pgsieve/common/utf8.hpp>

#include <span>

namespace pgsieve::audit {

namespace {
std::string object_of(std::span<const std::pair<std::string_view, std::string_view>> fields) {
    std::string out = "{";
    for (const auto& [key, value] : fields) {
        if (out.size() > 1) out += ',';
        log::append_json_string(out, key);
        out += ':';
        log::append_json_string(out, value);
    }
    return out + "}";
}
}  // namespace

namespace {
bool make_valid(std::string& s) {
    if (is_valid_utf8(s) && s.find('\0') == std::string::npos) return false;
    std::string fixed;
    for (const char c : valid_utf8(s)) {
        if (c == '\0') fixed += "\xEF\xBF\xBD";
        else fixed += c;
    }
    s = std::move(fixed);
    return true;
}

template <typename... Text>
bool make_valid_all(Text&... texts) {
    return (make_valid(texts) | ...);
}

bool make_valid_all_in(std::vector<std::string>& items) {
    bool changed = false;
    for (auto& item : items) changed = make_valid(item) || changed;
    return changed;
}
}  // namespace

bool make_valid_text(record& r) {
    struct visitor {
        bool operator()(session_started& s) const {
            return make_valid_all(s.client, s.policy, s.client_addr, s.application_name, s.database, s.attributes);
        }
        bool operator()(session_ended& s) const { return make_valid(s.end_reason); }
        bool operator()(statement& s) const {
            const bool texts = make_valid_all(s.client, s.policy, s.policy_version, s.protocol, s.statement_name, s.sql,
                                              s.reason, s.rule, s.application_name, s.command_tag, s.sqlstate, s.error);
            bool names = make_valid_all_in(s.tables) | make_valid_all_in(s.columns) | make_valid_all_in(s.row_scoped);
            for (auto& m : s.masked) names = make_valid_all(m.column) || names;
            return texts || names;
        }
        bool operator()(event& e) const { return make_valid_all(e.kind, e.detail); }
        bool operator()(policy_version& p) const { return make_valid_all(p.version, p.source); }
    };
    return std::visit(visitor{}, r);
}

std::string masked_columns_json(const std::vector<statement::masked_column>& masked) {
    std::string out = "[";
    for (const auto& m : masked) {
        if (out.size() > 1) out += ',';
        fmt::format_to(std::back_inserter(out), "{{\"position\":{},\"column\":", m.position);
        log::append_json_string(out, m.column);
        out += ",\"method\":";
        log::append_json_string(out, m.method);
        if (!m.applied) out += ",\"applied\":false";
        out += '}';
    }
    return out + "]";
}

std::string detail_json(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    return object_of({fields.begin(), fields.size()});
}

std::string detail_json(const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
    return object_of(fields);
}

}  // namespace pgsieve::audit
