#include <pgsieve/policy/upstream_check.hpp>

#include <pgsieve/parser/parse.hpp>
#include <pgsieve/policy/grants.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace pgsieve::policy {

namespace {

// Whether a row-level security expression, as pg_get_expr prints it, is
// the one `pgsieve grants` creates and nothing more: `column =
// current_setting('pgsieve.<attribute>')`, with casts on either side. An
// OR, another comparison, a sub-query or any other function is not — a
// substring test let `… OR true` pass.
bool scopes_rows(std::string_view printed, const std::string& column, const std::string& attribute) {
    const std::string sql = "SELECT 1 WHERE " + std::string(printed);
    auto parsed = parser::parse(sql, {1});
    if (!parsed || parsed->size() != 1) return false;
    const auto& f = parsed->front();
    if (f.queries.size() != 1 || f.queries[0].where_expr < 0 || f.functions.size() != 1) return false;
    const auto& q = f.queries[0];
    using k = parser::expr::kind;
    const auto strip_casts = [&](int i) {
        while (i >= 0 && f.exprs[static_cast<std::size_t>(i)].what == k::cast &&
               f.exprs[static_cast<std::size_t>(i)].operands.size() == 1)
            i = f.exprs[static_cast<std::size_t>(i)].operands[0];
        return i;
    };
    const auto& root = f.exprs[static_cast<std::size_t>(q.where_expr)];
    if (root.what != k::operator_ || root.variant != parser::expr::op || root.operands.size() != 2 || root.ref < 0 ||
        f.operators[static_cast<std::size_t>(root.ref)].name != std::vector<std::string>{"="})
        return false;
    const auto is_column = [&](int i) {
        i = strip_casts(i);
        if (i < 0 || f.exprs[static_cast<std::size_t>(i)].what != k::column) return false;
        const auto& fields = q.columns[static_cast<std::size_t>(f.exprs[static_cast<std::size_t>(i)].ref)].fields;
        return fields == std::vector<std::string>{column};
    };
    const auto is_setting = [&](int i) {
        i = strip_casts(i);
        if (i < 0) return false;
        const auto& call = f.exprs[static_cast<std::size_t>(i)];
        if (call.what != k::function || call.operands.size() != 1) return false;
        const auto& name = f.functions[static_cast<std::size_t>(call.ref)].name;
        if (name != std::vector<std::string>{"current_setting"} &&
            name != std::vector<std::string>{"pg_catalog", "current_setting"})
            return false;
        const auto arg = strip_casts(call.operands[0]);
        if (arg < 0 || f.exprs[static_cast<std::size_t>(arg)].what != k::constant) return false;
        // The literal as written: 'pgsieve.<attribute>' (names have no quotes: config load).
        const auto at = static_cast<std::size_t>(f.exprs[static_cast<std::size_t>(arg)].location);
        return sql.compare(at, attribute.size() + 10, "'pgsieve." + attribute + "'") == 0;
    };
    return (is_column(root.operands[0]) && is_setting(root.operands[1])) ||
           (is_column(root.operands[1]) && is_setting(root.operands[0]));
}


// Built-in roles whose members reach past table privileges: files and
// programs on the server, every table, other sessions and their queries.
constexpr std::string_view powerful_roles[] = {
    "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend",
    "pg_read_all_data",     "pg_write_all_data",     "pg_monitor",                "pg_read_all_stats",
    "pg_read_all_settings", "pg_checkpoint"};

std::string qualified(const std::pair<std::string, std::string>& name) { return name.first + "." + name.second; }

std::string privilege_list(const std::set<std::string>& privileges) { return fmt::format("{}", fmt::join(privileges, ", ")); }

struct checker {
    const config::config& cfg;
    const catalog& cat;
    upstream_report out;

    std::string grants_command(const std::vector<std::string>& policies) const {
        if (policies.size() == 1) return fmt::format("pgsieve grants -c {} --policy {}", cfg.source_path, policies.front());
        return fmt::format("pgsieve grants -c {}", cfg.source_path);
    }

    void add(finding_level level, const std::string& role, const std::vector<std::string>& policies, std::string object,
             std::string message, std::string fix) {
        out.findings.push_back({level, role, policies, std::move(object), std::move(message), std::move(fix)});
    }

    finding_level wider_level() const {
        return cfg.upstream.wider_privileges == config::privilege_check::refuse ? finding_level::stop
                                                                                 : finding_level::warning;
    }

    // Superuser and BYPASSRLS: the database would not be a wall at all.
    void check_privileged(const std::string& role, const role_facts& facts, const std::vector<std::string>& policies) {
        std::vector<std::string> what;
        if (facts.superuser) what.emplace_back("is a superuser");
        if (facts.bypass_rls) what.emplace_back("has BYPASSRLS");
        if (!facts.superuser) {  // a superuser is a member of every role
            for (const auto& m : facts.privileged_member_of)
                what.push_back(fmt::format("is a member of {}, a superuser or BYPASSRLS role it can SET ROLE to", m));
        }
        if (what.empty()) return;
        const bool allowed = cfg.upstream.allow_privileged_role;
        add(allowed ? finding_level::warning : finding_level::stop, role, policies, {},
            fmt::format("upstream role {} {}: PostgreSQL checks no privilege and no row-level security for it{}", role,
                        fmt::join(what, " and "),
                        allowed ? " (allowed by upstream.allow_privileged_role: true)" : ""),
            fmt::format("give the policies a least-privilege role: run the SQL that `{}` prints, as a superuser, "
                        "and set upstream.user or the policy's upstream_user to it",
                        grants_command(policies)));
    }

    void check_role_powers(const std::string& role, const role_facts& facts, const std::vector<std::string>& policies) {
        if (facts.create_role)
            add(wider_level(), role, policies, {},
                fmt::format("upstream role {} has CREATEROLE: it can create roles and grant itself their membership", role),
                fmt::format("ALTER ROLE {} NOCREATEROLE (`{}` prints it)", role, grants_command(policies)));
        for (const auto& m : facts.member_of) {
            if (std::find(std::begin(powerful_roles), std::end(powerful_roles), m) == std::end(powerful_roles)) continue;
            add(wider_level(), role, policies, m,
                fmt::format("upstream role {} is a member of {}, which reaches past table privileges", role, m),
                fmt::format("REVOKE {} FROM {} (`{}` prints it)", m, role, grants_command(policies)));
        }
    }

    // Table, column, sequence and schema privileges beyond the union of the
    // role's policies' grants (the same computation `pgsieve grants` prints).
    void check_wider(const std::string& role, const role_facts& facts, const std::vector<std::string>& policies,
                     const role_grant* grant) {
        const auto fix = fmt::format("run the SQL that `{}` prints: it revokes what the policies do not grant",
                                     grants_command(policies));
        std::set<std::pair<std::string, std::string>> sequences;
        if (grant) {
            for (const auto& t : grant->tables)
                for (const auto& s : t.sequences) sequences.insert(s);
        }
        for (const auto& [name, held] : facts.relations) {
            const role_grant::table* t = nullptr;
            if (grant) {
                for (const auto& candidate : grant->tables) {
                    if (candidate.relation->schema == name.first && candidate.relation->name == name.second) t = &candidate;
                }
            }
            const auto in = [](const std::vector<std::string>& list, const std::string& column) {
                return std::find(list.begin(), list.end(), column) != list.end();
            };
            std::vector<std::string> extra;
            if (held.owner) extra.emplace_back("ownership (an owner can alter it, grant it and bypass its row-level security)");
            std::set<std::string> table_extra;
            for (const auto& p : held.table) {
                // Table-level INSERT or UPDATE equals the column-level grant of every column.
                const auto every_column = [&](const std::vector<std::string>& granted) {
                    return granted.size() == t->relation->columns.size();
                };
                const bool allowed = sequences.contains(name) ? p == "USAGE"
                                     : !t                     ? false
                                     : p == "SELECT"          ? t->all_columns
                                     : p == "INSERT"          ? every_column(t->insert)
                                     : p == "UPDATE"          ? every_column(t->update)
                                     : p == "DELETE"          ? t->delete_
                                                              : false;
                if (!allowed) table_extra.insert(p);
            }
            if (!table_extra.empty()) extra.push_back(fmt::format("{} on the whole table", privilege_list(table_extra)));
            std::map<std::string, std::set<std::string>> column_extra;
            for (const auto& [column, privileges] : held.columns) {
                for (const auto& p : privileges) {
                    const bool allowed = t && ((p == "SELECT" && (t->all_columns || in(t->select, column))) ||
                                               (p == "INSERT" && in(t->insert, column)) ||
                                               (p == "UPDATE" && in(t->update, column)));
                    if (!allowed) column_extra[p].insert(column);
                }
            }
            for (const auto& [p, columns] : column_extra)
                extra.push_back(fmt::format("{} on column{} {}", p, columns.size() == 1 ? "" : "s",
                                            fmt::join(columns, ", ")));
            if (extra.empty()) continue;
            add(wider_level(), role, policies, qualified(name),
                fmt::format("upstream role {} holds more on {} than {}: {}", role, qualified(name),
                            t ? "its policies grant" : "its policies grant (none of them grants it)",
                            fmt::join(extra, "; ")),
                fix);
        }
        for (const auto& [schema, owner] : facts.create_schemas)
            add(wider_level(), role, policies, schema,
                fmt::format("upstream role {} may CREATE in schema {}{}: it could add objects that shadow granted names",
                            role, schema, owner ? " (it owns the schema)" : ""),
                fix);
    }

    // A row-scoped table is only scoped if PostgreSQL applies the policy to
    // this role: RLS enabled, forced for an owner, not bypassed, and every
    // permissive policy that applies to the role compares with the bound
    // attribute (permissive policies are OR-ed: one without it shows every row).
    void check_row_scoping(const std::string& role, const role_facts& facts, const std::string& policy_name,
                           const config::policy& p) {
        const std::vector<std::string> only{policy_name};
        for (const auto& [table, grant] : p.tables) {
            if (!grant.rows) continue;
            const auto name = table.str();
            const auto refuse = [&](std::string message, std::string fix) {
                add(finding_level::refuse_clients, role, only, name, std::move(message), std::move(fix));
            };
            const auto grants = grants_command(only);
            const auto* rel = cat.relation(table.schema, table.name);
            if (!rel) {
                refuse(fmt::format("policy {} scopes the rows of {}, which does not exist upstream", policy_name, name),
                       "create the table or correct the policy");
                continue;
            }
            if (!rel->row_security) {
                refuse(fmt::format("row-level security is not enabled on {}, whose rows policy {} scopes by {}", name,
                                   policy_name, grant.rows->attribute),
                       fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY and its CREATE POLICY, as `{}` prints them",
                                   name, grants));
                continue;
            }
            const auto held = facts.relations.find({table.schema, table.name});
            if (held != facts.relations.end() && held->second.owner && !rel->force_row_security) {
                refuse(fmt::format("upstream role {} owns {}, and row-level security does not apply to an owner unless "
                                   "forced",
                                   role, name),
                       fmt::format("ALTER TABLE {} FORCE ROW LEVEL SECURITY, or give the table another owner", name));
                continue;
            }
            if (facts.superuser || facts.bypass_rls) {
                refuse(fmt::format("upstream role {} bypasses row-level security, so {} would show every row", role, name),
                       fmt::format("use a least-privilege role: `{}`", grants));
                continue;
            }
            // clang 14 cannot capture a structured binding in a lambda.
            const auto& scope = *grant.rows;
            const auto scoped = [&](const std::optional<std::string>& expression) {
                return expression && scopes_rows(*expression, scope.column, scope.attribute);
            };
            const auto applies = [&](const row_policy& rp) {
                for (const auto& r : rp.roles) {
                    if (r == "public" || r == role ||
                        std::find(facts.member_of.begin(), facts.member_of.end(), r) != facts.member_of.end())
                        return true;
                }
                return false;
            };
            bool reads_scoped = false;
            const bool writes = grant.allow.contains(config::table_verb::insert) ||
                                grant.allow.contains(config::table_verb::update);
            const auto policies = cat.row_policies.find({table.schema, table.name});
            std::string unscoped;
            if (policies != cat.row_policies.end()) {
                for (const auto& rp : policies->second) {
                    if (!rp.permissive || !applies(rp)) continue;
                    const bool reads = rp.command == "ALL" || rp.command == "SELECT" || rp.command == "UPDATE" ||
                                       rp.command == "DELETE";
                    if (reads && !scoped(rp.using_expression)) {
                        unscoped = rp.name;
                        break;
                    }
                    // WITH CHECK defaults to USING for ALL and UPDATE.
                    const auto& check = rp.check_expression ? rp.check_expression : rp.using_expression;
                    if (writes && (rp.command == "ALL" || rp.command == "INSERT" || rp.command == "UPDATE") &&
                        !scoped(check)) {
                        unscoped = rp.name;
                        break;
                    }
                    if (reads) reads_scoped = true;
                }
            }
            if (!unscoped.empty()) {
                refuse(fmt::format("row-level security policy {} on {} applies to {} without comparing {} with "
                                   "current_setting('pgsieve.{}'): permissive policies add up, so it shows other "
                                   "clients' rows",
                                   unscoped, name, role, grant.rows->column, grant.rows->attribute),
                       fmt::format("drop or narrow policy {} (TO another role), and create the one `{}` prints",
                                   unscoped, grants));
                continue;
            }
            if (!reads_scoped)
                add(finding_level::warning, role, only, name,
                    fmt::format("no row-level security policy on {} applies to {}: it shows no rows", name, role),
                    fmt::format("create the policy that `{}` prints", grants));
        }
    }

    void run() {
        if (!cat.roles_checked) return;
        std::map<std::string, std::vector<std::string>> policies_of;
        for (const auto& role : cfg.upstream_roles()) policies_of[role];
        for (const auto& [name, p] : cfg.policies) policies_of[cfg.upstream_user_of(p)].push_back(name);
        // Granted tables the catalog lacks are refused by decisions anyway; the
        // comparison then uses what can be worked out.
        std::map<std::string, role_grant> grants;
        if (auto worked = role_grants(cfg, cat, {}, missing_objects::skip)) {
            for (auto& g : *worked) grants.emplace(g.role, std::move(g));
        }
        for (const auto& [role, policies] : policies_of) {
            const auto facts = cat.roles.find(role);
            if (facts == cat.roles.end() || !facts->second.exists) {
                add(finding_level::refuse_clients, role, policies, {},
                    fmt::format("upstream role {} does not exist{}", role,
                                facts == cat.roles.end() ? " (not yet checked)" : ""),
                    fmt::format("create it with the SQL that `{}` prints", grants_command(policies)));
                continue;
            }
            check_privileged(role, facts->second, policies);
            // A superuser holds everything: listing it all would bury the one finding that matters.
            if (!facts->second.superuser) {
                check_role_powers(role, facts->second, policies);
                const auto g = grants.find(role);
                check_wider(role, facts->second, policies, g == grants.end() ? nullptr : &g->second);
            }
            for (const auto& name : policies) check_row_scoping(role, facts->second, name, cfg.policies.at(name));
        }
    }
};

}  // namespace

std::string_view to_string(finding_level level) {
    switch (level) {
        case finding_level::stop: return "stop";
        case finding_level::refuse_clients: return "refuse_clients";
        case finding_level::warning: return "warning";
    }
    return "?";
}

bool upstream_report::stops() const {
    return std::any_of(findings.begin(), findings.end(), [](const auto& f) { return f.level == finding_level::stop; });
}

const upstream_finding* upstream_report::refusal(std::string_view policy) const {
    for (const auto& f : findings) {
        if (f.level == finding_level::warning) continue;
        if (std::find(f.policies.begin(), f.policies.end(), policy) != f.policies.end()) return &f;
    }
    return nullptr;
}

std::string upstream_report::summary() const {
    std::string out;
    for (const auto& f : findings) out += fmt::format("{}: {}\n  fix: {}\n", to_string(f.level), f.message, f.fix);
    return out;
}

upstream_report check_upstream(const config::config& cfg, const catalog& cat) {
    checker c{cfg, cat, {}};
    c.run();
    return std::move(c.out);
}

}  // namespace pgsieve::policy
