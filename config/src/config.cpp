#include <pgsieve/config/config.hpp>
#include <pgsieve/config/load.hpp>

#include <fmt/format.h>

#include <algorithm>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace pgsieve::config {

const client* config::find_client(std::string_view name) const {
    for (const auto& c : clients) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

const policy* config::find_policy(std::string_view name) const {
    const auto it = policies.find(std::string(name));
    return it == policies.end() ? nullptr : &it->second;
}

const std::string& config::upstream_user_of(const policy& p) const {
    return p.upstream_user.empty() ? upstream.user : p.upstream_user;
}

const std::optional<std::string>& config::upstream_password_of(const policy& p) const {
    return p.upstream_user.empty() ? upstream.password : p.upstream_password;
}

std::vector<std::string> config::upstream_roles() const {
    std::set<std::string> roles{upstream.user};
    for (const auto& [name, p] : policies) roles.insert(upstream_user_of(p));
    return {roles.begin(), roles.end()};
}

bool policy::writes() const {
    return statements.contains(statement_kind::insert) || statements.contains(statement_kind::update) ||
           statements.contains(statement_kind::delete_) || statements.contains(statement_kind::merge);
}

std::string load_error::str() const {
    std::string out = file;
    if (line > 0) out += fmt::format(":{}", line);
    out += ": ";
    if (!key.empty()) out += key + ": ";
    return out + message;
}

environment environment::system() {
    return environment{
        [](const std::string& name) -> std::optional<std::string> {
            const char* v = std::getenv(name.c_str());
            return v ? std::optional<std::string>(v) : std::nullopt;
        },
        [](const std::string& path) -> std::optional<std::string> {
            std::ifstream in(path, std::ios::binary);
            if (!in) return std::nullopt;
            std::ostringstream text;
            text << in.rdbuf();
            if (in.bad()) return std::nullopt;
            return std::move(text).str();
        },
    };
}

std::string_view to_string(tls_mode v) { return v == tls_mode::prefer ? "prefer" : "require"; }

std::string_view to_string(sslmode v) {
    switch (v) {
        case sslmode::disable: return "disable";
        case sslmode::prefer: return "prefer";
        case sslmode::require: return "require";
        case sslmode::verify_full: return "verify-full";
    }
    return "?";
}

std::string_view to_string(store_sql v) { return v == store_sql::full ? "full" : "normalized"; }
std::string_view to_string(on_failure v) { return v == on_failure::block ? "block" : "allow"; }
std::string_view to_string(on_overflow v) { return v == on_overflow::wait ? "wait" : "drop"; }
std::string_view to_string(policy_mode v) { return v == policy_mode::enforce ? "enforce" : "monitor"; }

std::string_view to_string(mask_method m) {
    switch (m) {
        case mask_method::redact: return "redact";
        case mask_method::null: return "null";
        case mask_method::hash: return "hash";
        case mask_method::last4: return "last4";
        case mask_method::first4: return "first4";
        case mask_method::email_domain: return "email_domain";
    }
    return "?";
}
std::string_view to_string(catalog_access v) { return v == catalog_access::none ? "none" : "introspection"; }

std::string_view to_string(budget_kind v) {
    switch (v) {
        case budget_kind::statements: return "statements";
        case budget_kind::rows: return "rows";
        case budget_kind::bytes: return "bytes";
        case budget_kind::statement_time: return "statement_time";
    }
    return "statements";
}

std::vector<budget> config::budgets_of(const client& c) const {
    std::vector<budget> out = c.budgets;
    if (const auto* p = find_policy(c.policy))
        for (const auto& b : p->budgets)
            if (std::none_of(out.begin(), out.end(), [&](const budget& own) { return own.kind == b.kind; }))
                out.push_back(b);
    return out;
}

std::string_view to_string(on_exceed v) { return v == on_exceed::truncate ? "truncate" : "error"; }

std::string_view to_string(statement_kind v) {
    switch (v) {
        case statement_kind::select: return "select";
        case statement_kind::explain: return "explain";
        case statement_kind::show: return "show";
        case statement_kind::insert: return "insert";
        case statement_kind::update: return "update";
        case statement_kind::delete_: return "delete";
        case statement_kind::merge: return "merge";
    }
    return "?";
}

std::string_view to_string(table_verb v) {
    switch (v) {
        case table_verb::select: return "select";
        case table_verb::insert: return "insert";
        case table_verb::update: return "update";
        case table_verb::delete_: return "delete";
        case table_verb::merge: return "merge";
    }
    return "?";
}

std::string_view to_string(privilege_check v) { return v == privilege_check::warn ? "warn" : "refuse"; }

std::vector<std::string> restart_only_changes(const config& a, const config& b) {
    std::vector<std::string> out;
    const auto& la = a.listen;
    const auto& lb = b.listen;
    // Per-statement limits are read from the policy snapshot for each statement: they reload.
    if (la.address != lb.address) out.emplace_back("listen.address");
    if (la.port != lb.port) out.emplace_back("listen.port");
    if (la.tls != lb.tls) out.emplace_back("listen.tls");
    if (la.max_connections != lb.max_connections) out.emplace_back("listen.max_connections");
    if (la.auth_timeout != lb.auth_timeout) out.emplace_back("listen.auth_timeout");
    if (la.idle_timeout != lb.idle_timeout) out.emplace_back("listen.idle_timeout");
    if (la.max_message_bytes != lb.max_message_bytes) out.emplace_back("listen.max_message_bytes");
    if (a.admin != b.admin) out.emplace_back("admin");
    if (a.cluster.instance_id != b.cluster.instance_id) out.emplace_back("cluster.instance_id");
    if (a.cluster.peer_listen != b.cluster.peer_listen) out.emplace_back("cluster.peer_listen");
    const auto& ua = a.upstream;
    const auto& ub = b.upstream;
    if (ua.host != ub.host) out.emplace_back("upstream.host");
    if (ua.port != ub.port) out.emplace_back("upstream.port");
    if (ua.database != ub.database) out.emplace_back("upstream.database");
    if (ua.ssl != ub.ssl) out.emplace_back("upstream.sslmode");
    if (ua.sslrootcert != ub.sslrootcert) out.emplace_back("upstream.sslrootcert");
    if (a.audit != b.audit) out.emplace_back("audit");
    return out;
}

}  // namespace pgsieve::config
