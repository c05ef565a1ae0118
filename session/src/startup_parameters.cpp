#include <pgsieve/common/sql_text.hpp>
#include <pgsieve/session/startup_parameters.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

namespace pgsieve::session {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// The parameters a client may set, lower-cased (GUC names are case-insensitive).
const std::set<std::string>& safe_parameters() {
    static const std::set<std::string> names = {"application_name", "client_encoding", "datestyle",
                                                "timezone",         "intervalstyle",   "extra_float_digits",
                                                "statement_timeout", "lock_timeout",   "search_path"};
    return names;
}

constexpr std::string_view safe_list_hint =
    "allowed startup parameters: application_name, client_encoding (UTF8), DateStyle, TimeZone, IntervalStyle, "
    "extra_float_digits, statement_timeout and lock_timeout up to the policy's, search_path of granted schemas";

parameter_refusal refuse(std::string_view name, std::string message) {
    return parameter_refusal{std::string(name), std::move(message), std::string(safe_list_hint)};
}

bool is_write_kind(config::statement_kind k) {
    using config::statement_kind;
    return k == statement_kind::insert || k == statement_kind::update || k == statement_kind::delete_ ||
           k == statement_kind::merge;
}

// A schema the policy grants something in: a table, a function, or pg_catalog.
bool schema_granted(const config::policy& policy, std::string_view schema) {
    if (schema == "pg_catalog") return true;
    for (const auto& [name, grant] : policy.tables) {
        if (name.schema == schema) return true;
    }
    return std::any_of(policy.functions.begin(), policy.functions.end(),
                       [&](const auto& f) { return f.schema == schema; });
}

std::string join_search_path(const std::vector<std::string>& schemas) {
    std::string out;
    for (const auto& s : schemas) out += (out.empty() ? "" : ", ") + quote_identifier(s);
    return out;
}

}  // namespace

expected<parameter_list, parameter_refusal> split_options(std::string_view options) {
    // Tokenize: whitespace separates, backslash makes the next byte literal.
    std::vector<std::string> tokens;
    std::string current;
    bool in_token = false;
    for (std::size_t i = 0; i < options.size(); ++i) {
        const char c = options[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (in_token) tokens.push_back(std::move(current));
            current.clear();
            in_token = false;
            continue;
        }
        in_token = true;
        if (c == '\\' && i + 1 < options.size()) {
            current += options[++i];
        } else {
            current += c;
        }
    }
    if (in_token) tokens.push_back(std::move(current));

    parameter_list out;
    auto add = [&](std::string_view setting) -> std::optional<parameter_refusal> {
        const auto eq = setting.find('=');
        if (eq == std::string_view::npos || eq == 0)
            return refuse(setting, fmt::format("pgsieve: option \"{}\" is not name=value", setting));
        std::string name(setting.substr(0, eq));
        std::replace(name.begin(), name.end(), '-', '_');  // as PostgreSQL's ParseLongOption does
        out.emplace_back(std::move(name), std::string(setting.substr(eq + 1)));
        return std::nullopt;
    };
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const std::string& t = tokens[i];
        std::optional<parameter_refusal> refused;
        if (t == "-c") {
            if (i + 1 == tokens.size()) return unexpected(refuse("-c", "pgsieve: option -c needs name=value"));
            refused = add(tokens[++i]);
        } else if (t.starts_with("-c")) {
            refused = add(std::string_view(t).substr(2));
        } else if (t.starts_with("--")) {
            refused = add(std::string_view(t).substr(2));
        } else {
            return unexpected(refuse(t, fmt::format("pgsieve: server option \"{}\" is not allowed in options", t)));
        }
        if (refused) return unexpected(std::move(*refused));
    }
    return out;
}

std::optional<std::vector<std::string>> parse_search_path(std::string_view value) {
    std::vector<std::string> out;
    std::size_t i = 0;
    auto skip_space = [&] {
        while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
    };
    for (;;) {
        skip_space();
        std::string name;
        if (i < value.size() && value[i] == '"') {
            ++i;
            for (;;) {
                if (i >= value.size()) return std::nullopt;  // unterminated quote
                if (value[i] == '"') {
                    if (i + 1 < value.size() && value[i + 1] == '"') {
                        name += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                name += value[i++];
            }
        } else {
            while (i < value.size() && value[i] != ',' && !std::isspace(static_cast<unsigned char>(value[i])))
                name += static_cast<char>(std::tolower(static_cast<unsigned char>(value[i++])));
        }
        if (name.empty()) return std::nullopt;
        out.push_back(std::move(name));
        skip_space();
        if (i == value.size()) return out;
        if (value[i] != ',') return std::nullopt;
        ++i;
    }
}

std::optional<std::int64_t> parse_duration_ms(std::string_view value) {
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
    std::int64_t amount = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), amount);
    if (ec != std::errc{} || end == value.data() || amount < 0) return std::nullopt;
    std::string_view unit(end, value.data() + value.size() - end);
    while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.remove_prefix(1);
    const std::string u = lower(unit);
    constexpr std::int64_t max = std::int64_t(1) << 40;  // far beyond any sane timeout, far from overflow
    if (amount > max) return std::nullopt;
    if (u.empty() || u == "ms") return amount;
    if (u == "us") return amount / 1000;
    if (u == "s") return amount * 1000;
    if (u == "min") return amount * 60'000;
    if (u == "h") return amount * 3'600'000;
    if (u == "d") return amount * 86'400'000;
    return std::nullopt;
}

expected<parameter_list, parameter_refusal> upstream_parameters(const parameter_list& requested,
                                                                const config::upstream_settings& upstream,
                                                                const config::policy& policy) {
    parameter_list out;
    std::vector<std::string> search_path = upstream.search_path;
    std::optional<std::int64_t> statement_timeout;
    if (policy.statement_timeout) statement_timeout = policy.statement_timeout->count();
    std::set<std::string> seen;

    for (const auto& [name, value] : requested) {
        const std::string key = lower(name);
        if (!safe_parameters().contains(key))
            return unexpected(refuse(name, fmt::format("pgsieve: startup parameter \"{}\" is not allowed", name)));
        if (!seen.insert(key).second)
            return unexpected(refuse(name, fmt::format("pgsieve: startup parameter \"{}\" is given twice", name)));

        if (key == "client_encoding") {
            // The proxy parses statement text as UTF-8; another encoding
            // could hide a quote inside a multibyte character. Names are
            // compared as PostgreSQL's clean_encoding_name does: letters and
            // digits only, lower case ("'utf-8'" is UTF8, as asyncpg sends it).
            std::string v;
            for (const char c : value) {
                if (std::isalnum(static_cast<unsigned char>(c))) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            if (v != "utf8" && v != "unicode")
                return unexpected(refuse(name, fmt::format("pgsieve: client_encoding \"{}\" is not allowed; use UTF8",
                                                           value)));
        } else if (key == "statement_timeout" || key == "lock_timeout") {
            const auto ms = parse_duration_ms(value);
            if (!ms) return unexpected(refuse(name, fmt::format("pgsieve: invalid value for {}: \"{}\"", name, value)));
            if (policy.statement_timeout && (*ms == 0 || *ms > policy.statement_timeout->count()))
                return unexpected(refuse(
                    name, fmt::format("pgsieve: {} \"{}\" is above policy \"{}\"'s statement_timeout of {}ms", name,
                                      value, policy.name, policy.statement_timeout->count())));
            if (key == "statement_timeout") {
                statement_timeout = *ms;
                continue;  // sent below, once
            }
        } else if (key == "search_path") {
            auto schemas = parse_search_path(value);
            if (!schemas) return unexpected(refuse(name, fmt::format("pgsieve: invalid search_path \"{}\"", value)));
            for (const auto& s : *schemas) {
                if (!schema_granted(policy, s))
                    return unexpected(refuse(name, fmt::format("pgsieve: schema \"{}\" in search_path is not granted "
                                                               "by policy \"{}\"",
                                                               s, policy.name)));
            }
            search_path = std::move(*schemas);
            continue;  // sent below, pinned
        }
        out.emplace_back(name, value);
    }

    out.emplace_back("search_path", join_search_path(search_path));
    if (statement_timeout) out.emplace_back("statement_timeout", fmt::format("{}ms", *statement_timeout));
    if (std::none_of(policy.statements.begin(), policy.statements.end(), is_write_kind))
        out.emplace_back("default_transaction_read_only", "on");
    return out;
}

}  // namespace pgsieve::session
