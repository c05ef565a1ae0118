#include <pgsieve/common/sql_text.hpp>
#include <pgsieve/policy/builtins.hpp>
#include <pgsieve/policy/parameters.hpp>
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

constexpr std::string_view search_path_hint = "search_path may name only schemas the policy grants something in";

parameter_refusal refuse(std::string_view name, std::string message, std::string_view hint = policy::settable_parameters_hint) {
    return parameter_refusal{std::string(name), std::move(message), std::string(hint)};
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

expected<parameter_list, parameter_refusal> upstream_parameters(const parameter_list& requested,
                                                                const config::upstream_settings& upstream,
                                                                const config::policy& policy,
                                                                const config::client& client) {
    parameter_list out;
    std::vector<std::string> search_path = upstream.search_path;
    std::optional<std::int64_t> statement_timeout;
    if (policy.statement_timeout) statement_timeout = policy.statement_timeout->count();
    std::set<std::string> seen;

    for (const auto& [name, value] : requested) {
        const std::string key = lower(name);
        if (!seen.insert(key).second)
            return unexpected(refuse(name, fmt::format("pgsieve: startup parameter \"{}\" is given twice", name)));
        if (key == "search_path") {
            auto schemas = parse_search_path(value);
            if (!schemas)
                return unexpected(refuse(name, fmt::format("pgsieve: invalid search_path \"{}\"", value), search_path_hint));
            for (const auto& s : *schemas) {
                if (!schema_granted(policy, s))
                    return unexpected(refuse(name,
                                             fmt::format("pgsieve: schema \"{}\" in search_path is not granted by "
                                                         "policy \"{}\"",
                                                         s, policy.name),
                                             search_path_hint));
            }
            search_path = std::move(*schemas);
            continue;  // sent below, pinned
        }
        if (!key.starts_with("pgsieve.") && !policy::builtins::settable_parameter(key))
            return unexpected(refuse(name, fmt::format("pgsieve: startup parameter \"{}\" is not allowed", name)));
        if (auto why = policy::parameter_refusal(key, value, policy)) return unexpected(refuse(name, std::move(*why)));
        if (key == "statement_timeout") {
            statement_timeout = policy::parameter_milliseconds(value);
            continue;  // sent below, once
        }
        if (key == "client_encoding") continue;  // UTF8 (checked above), sent below as the contract says
        out.emplace_back(name, value);
    }

    // The session contract (contract_breach): sent whatever the role's and
    // database's defaults say.
    out.emplace_back("client_encoding", "UTF8");
    out.emplace_back("standard_conforming_strings", "on");
    out.emplace_back("search_path", join_search_path(search_path));
    if (statement_timeout) out.emplace_back("statement_timeout", fmt::format("{}ms", *statement_timeout));
    if (!policy.writes()) out.emplace_back("default_transaction_read_only", "on");
    // Scoped discovery splices filtered sub-queries into catalog queries;
    // their estimated cost makes PostgreSQL JIT-compile them, which takes
    // longer (measured: about a second) than the query runs.
    if (policy.catalog == config::catalog_access::introspection) out.emplace_back("jit", "off");
    // The client's attributes: startup parameters are the session's reset
    // value, so RESET ALL, DISCARD ALL and SET LOCAL … COMMIT keep them.
    for (const auto& [name, value] : client.attributes) out.emplace_back("pgsieve." + name, value);
    return out;
}

std::optional<std::string> contract_breach(std::string_view name, std::string_view value,
                                           const config::policy& policy) {
    const std::string key = lower(name);
    const auto breach = [&](std::string_view expected) -> std::optional<std::string> {
        if (lower(value) == expected) return std::nullopt;
        return fmt::format("the upstream server reports {} = \"{}\"; pgsieve analyses statements as PostgreSQL reads "
                           "them only with {} = {}",
                           name, value, name, expected);
    };
    if (key == "standard_conforming_strings") return breach("on");
    if (key == "client_encoding") return breach("utf8");
    if (key == "default_transaction_read_only" && !policy.writes()) return breach("on");
    return std::nullopt;
}

}  // namespace pgsieve::session
