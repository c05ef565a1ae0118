// clients: who may connect, with which password, under which policy, and
// the attributes their row-scoped policies read.

#include "loader.hpp"

#include <pgsieve/wire/scram.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace pgsieve::config::detail {

namespace {

// A client's password: a SCRAM verifier as is, or a plain password (from the
// environment or a file only) hashed here so no plain text is kept.
std::optional<std::string> read_client_verifier(loader& l, const std::vector<std::pair<std::string, located>>& fields,
                                                const located& at) {
    auto s = read_secret(l, fields, at, "password", /*inline_ok=*/true, /*required=*/true);
    if (!s) return std::nullopt;
    if (wire::scram::looks_like_verifier(s->value)) {
        auto v = wire::scram::parse_verifier(s->value);
        if (!v) {
            l.reader.error(s->at, fmt::format("not a valid SCRAM-SHA-256 verifier: {}", v.error().detail));
            return std::nullopt;
        }
        return wire::scram::to_string(*v);
    }
    if (s->from_inline) {
        l.reader.error(s->at, "an inline password must be a SCRAM-SHA-256 verifier (make one with `pgsieve passwd "
                              "NAME`); plain passwords only from password_env or password_file");
        return std::nullopt;
    }
    auto v = wire::scram::generate_verifier(s->value);
    if (!v) {
        l.reader.error(s->at, v.error().detail);
        return std::nullopt;
    }
    return wire::scram::to_string(*v);
}

// attributes: {tenant_id: 42}: bound upstream as the session parameter
// pgsieve.tenant_id, so names follow PostgreSQL's rules for parameters.
void read_attributes(loader& l, const located& at, client& c) {
    for (const auto& [name, value] : l.reader.mapping(at, /*null_is_empty=*/true)) {
        const bool plain = !name.empty() && name.size() <= 55 &&
                           (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                           std::all_of(name.begin(), name.end(), [](char ch) {
                               return std::islower(static_cast<unsigned char>(ch)) ||
                                      std::isdigit(static_cast<unsigned char>(ch)) || ch == '_';
                           });
        if (!plain) {
            l.reader.error(value, "an attribute name is lower-case letters, digits and _ (it becomes the session "
                                  "parameter pgsieve.<name>)");
            continue;
        }
        auto text = l.reader.string(value);
        if (!text) continue;
        if (text->find('\0') != std::string::npos || text->size() > 1024) {
            l.reader.error(value, "an attribute value is text without NUL, at most 1024 bytes");
            continue;
        }
        c.attributes[name] = std::move(*text);
    }
}

// A client of a policy that scopes rows by an attribute must carry it.
void require_row_attributes(loader& l, const located& at, const client& c) {
    const auto* p = l.cfg.find_policy(c.policy);
    if (!p) return;
    for (const auto& [table, grant] : p->tables) {
        if (grant.rows && !c.attributes.contains(grant.rows->attribute))
            l.reader.error(at.line, join_key(at.key, "attributes"),
                           fmt::format("policy \"{}\" scopes {} by attribute \"{}\", which client \"{}\" does not have",
                                       c.policy, table.str(), grant.rows->attribute, c.name));
    }
}

}  // namespace

void read_clients(loader& l, const located& at) {
    for (const auto& item : l.reader.sequence(at)) {
        const auto fields = l.reader.mapping(item, {"name", "password", "password_env", "password_file", "policy",
                                                    "max_connections", "attributes", "budgets"});
        client c;
        if (const auto* f = l.require(fields, item, "name")) {
            if (auto v = l.reader.string(*f)) c.name = l.reader.identifier(*f, *v).value_or("");
            if (!c.name.empty() && l.cfg.find_client(c.name))
                l.reader.error(*f, fmt::format("client \"{}\" is defined twice", c.name));
        }
        if (auto v = read_client_verifier(l, fields, item)) c.verifier = std::move(*v);
        if (const auto* f = l.require(fields, item, "policy")) {
            if (auto v = l.reader.string(*f)) {
                c.policy = *v;
                if (!l.cfg.find_policy(c.policy)) l.reader.error(*f, fmt::format("no policy named \"{}\"", c.policy));
            }
        }
        if (const auto* f = find(fields, "max_connections")) {
            if (auto v = l.reader.integer(*f, 1, 1'000'000)) c.max_connections = static_cast<int>(*v);
        }
        if (const auto* f = find(fields, "attributes")) read_attributes(l, *f, c);
        if (const auto* f = find(fields, "budgets")) c.budgets = read_budgets(l, *f);
        require_row_attributes(l, item, c);
        l.cfg.clients.push_back(std::move(c));
    }
    if (l.cfg.clients.empty() && at.node && at.node.IsSequence())
        l.reader.error(at, "no clients: nobody could connect");
}

void warn_unused_policies(config& cfg, const std::vector<std::pair<std::string, located>>& policy_fields) {
    for (const auto& field : policy_fields) {
        const std::string& name = field.first;  // not a structured binding: clang 14 cannot capture those
        const located& at = field.second;
        const bool used = std::any_of(cfg.clients.begin(), cfg.clients.end(), [&](const client& c) { return c.policy == name; });
        if (!used) cfg.warnings.push_back({at.line, at.key, "no client uses this policy"});
    }
}

}  // namespace pgsieve::config::detail
