#include <pgsieve/policy/grants.hpp>

#include "check_references.hpp"

#include <pgsieve/common/sql_text.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace pgsieve::policy {

namespace {

void add_unique(std::vector<std::string>& into, const std::string& item) {
    if (std::find(into.begin(), into.end(), item) == into.end()) into.push_back(item);
}

// The relation's columns in catalog order, keeping those in `wanted`.
std::vector<std::string> in_catalog_order(const relation_info& rel, const std::vector<std::string>& wanted) {
    std::vector<std::string> out;
    for (const auto& c : rel.columns) {
        if (std::find(wanted.begin(), wanted.end(), c) != wanted.end()) out.push_back(c);
    }
    return out;
}

std::string column_list(const std::vector<std::string>& columns) {
    std::string out;
    for (const auto& c : columns) out += (out.empty() ? "" : ", ") + sql_identifier(c);
    return out;
}

// Text inside an SQL comment: a line break would end the comment and start
// a statement the superuser runs. Names are checked at config load; this
// holds for anything else (the file's path).
std::string comment_text(std::string_view text) {
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F) out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return out;
}

std::string lowercase_name(std::string_view text) {
    std::string out;
    for (const char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
    return out;
}

}  // namespace

std::string rls_policy_name(std::string_view policy) { return "pgsieve_" + lowercase_name(policy); }

expected<std::vector<role_grant>, std::string> role_grants(const config::config& cfg, const catalog& cat,
                                                           std::string_view only_policy, missing_objects missing) {
    const std::string* only_role = nullptr;
    if (!only_policy.empty()) {
        const auto* p = cfg.find_policy(only_policy);
        if (!p) return unexpected(fmt::format("no policy named \"{}\"", only_policy));
        only_role = &cfg.upstream_user_of(*p);
    }
    std::map<std::string, role_grant> by_role;
    for (const auto& [name, p] : cfg.policies) {
        const auto& role = cfg.upstream_user_of(p);
        if (only_role && role != *only_role) continue;
        auto& g = by_role[role];
        g.role = role;
        g.policies.push_back(name);
        const context ctx{cfg, p, cat, {}, role, nullptr};
        for (const auto& [table, grant] : p.tables) {
            const auto* rel = cat.relation(table.schema, table.name);
            if (!rel) {
                if (missing == missing_objects::skip) continue;
                return unexpected(fmt::format("policy \"{}\" grants {}, which the upstream catalog lacks", name, table.str()));
            }
            g.schemas.insert(table.schema);
            auto it = std::find_if(g.tables.begin(), g.tables.end(), [&](const auto& t) { return t.relation == rel; });
            if (it == g.tables.end()) {
                g.tables.push_back({});
                it = g.tables.end() - 1;
                it->relation = rel;
            }
            std::vector<std::string> visible;
            for (const auto& c : rel->columns) {
                if (detail::column_rule(&grant, *rel, c, ctx).empty()) visible.push_back(c);
            }
            if (grant.columns) {
                for (const auto& c : *grant.columns) {
                    if (std::find(rel->columns.begin(), rel->columns.end(), c) == rel->columns.end() &&
                        missing == missing_objects::fail)
                        return unexpected(fmt::format("policy \"{}\" grants column {}.{}, which the upstream catalog lacks",
                                                      name, table.str(), c));
                }
            }
            if (grant.allow.contains(config::table_verb::select)) {
                if (visible.size() == rel->columns.size()) it->all_columns = true;
                for (const auto& c : visible) add_unique(it->select, c);
            }
            // Writes are limited to the columns the policy lets the client see.
            if (grant.allow.contains(config::table_verb::insert)) {
                for (const auto& c : visible) add_unique(it->insert, c);
                if (const auto s = cat.sequences.find({table.schema, table.name}); s != cat.sequences.end())
                    it->sequences = s->second;
            }
            if (grant.allow.contains(config::table_verb::update))
                for (const auto& c : visible) add_unique(it->update, c);
            if (grant.allow.contains(config::table_verb::delete_)) it->delete_ = true;
            if (grant.rows) {
                if (std::find(rel->columns.begin(), rel->columns.end(), grant.rows->column) == rel->columns.end() &&
                    missing == missing_objects::fail)
                    return unexpected(fmt::format("policy \"{}\" scopes {} by column {}, which the upstream catalog lacks",
                                                  name, table.str(), grant.rows->column));
                it->rows.emplace_back(name, *grant.rows);
            }
        }
        for (const auto& f : p.functions) g.schemas.insert(f.schema);
    }
    // The script revokes everything the role holds and demotes it: never for
    // a role that is more than a client's. (The script checks again when it
    // runs: the role running it, the bootstrap superuser, owners.)
    for (const auto& [role, g] : by_role) {
        const auto facts = cat.roles.find(role);
        if (facts == cat.roles.end() || !facts->second.exists) continue;
        const auto dedicated = fmt::format(
            "give polic{} {} a dedicated upstream role (upstream.user, or the policy's upstream_user: a new name "
            "such as pgsieve_{}), then run pgsieve grants again; the script creates it",
            g.policies.size() == 1 ? "y" : "ies", fmt::join(g.policies, ", "), lowercase_name(g.policies.front()));
        if (facts->second.superuser)
            return unexpected(fmt::format("upstream role {} is a superuser: pgsieve grants will not print SQL that "
                                          "demotes it and revokes its privileges; {}",
                                          role, dedicated));
        for (const auto& [relation, held] : facts->second.relations) {
            if (held.owner)
                return unexpected(fmt::format("upstream role {} owns {} (REVOKE does not bind an owner, and the script "
                                              "would strip it): pgsieve grants will not align it; {}",
                                              role, relation.first + "." + relation.second, dedicated));
        }
    }
    std::vector<role_grant> out;
    for (auto& [role, g] : by_role) {
        for (auto& t : g.tables) {
            t.select = in_catalog_order(*t.relation, t.select);
            t.insert = in_catalog_order(*t.relation, t.insert);
            t.update = in_catalog_order(*t.relation, t.update);
        }
        out.push_back(std::move(g));
    }
    return out;
}

std::string grants_sql(const config::config& cfg, const std::vector<role_grant>& grants) {
    std::string out = fmt::format(
        "-- pgsieve grants: least-privilege upstream roles for {} (configuration {}).\n"
        "-- Review it, then run it as a superuser or the tables' owner (psql -v ON_ERROR_STOP=1 -f FILE).\n"
        "-- pgsieve never runs it. Each role ends with exactly what its policies grant.\n",
        comment_text(cfg.source_path), cfg.version);
    for (const auto& g : grants) {
        const std::string role = sql_identifier(g.role);
        const std::string role_literal = quote_literal(g.role);
        std::vector<std::string> policies;
        for (const auto& p : g.policies) policies.push_back(comment_text(p));
        out += fmt::format("\n-- Role {} for polic{} {}.\n", comment_text(g.role), g.policies.size() == 1 ? "y" : "ies",
                           fmt::join(policies, ", "));
        if (g.policies.size() > 1)
            out += "-- These policies share one role, so the database allows the union of their grants; give each\n"
                   "-- policy its own upstream_user for the second wall to match each policy.\n";
        out += "BEGIN;\n";
        // Checked where it runs, against the database it runs in: the role
        // running the script, the bootstrap superuser and any superuser, and
        // a role that owns objects are never demoted or stripped.
        out += fmt::format(
            "DO $pgsieve$ BEGIN\n"
            "  IF {0} IN (current_user, session_user) THEN\n"
            "    RAISE EXCEPTION 'pgsieve grants: role % runs this script; it will not alter itself', {0}\n"
            "      USING HINT = 'give the policy a dedicated upstream role';\n"
            "  END IF;\n"
            "  IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {0} AND (oid = 10 OR rolsuper)) THEN\n"
            "    RAISE EXCEPTION 'pgsieve grants: role % is a superuser; it will not demote it', {0}\n"
            "      USING HINT = 'give the policy a dedicated upstream role';\n"
            "  END IF;\n"
            "  IF EXISTS (SELECT FROM pg_catalog.pg_class WHERE relowner = pg_catalog.to_regrole({0}))\n"
            "     OR EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspowner = pg_catalog.to_regrole({0}))\n"
            "     OR EXISTS (SELECT FROM pg_catalog.pg_proc WHERE proowner = pg_catalog.to_regrole({0}))\n"
            "     OR EXISTS (SELECT FROM pg_catalog.pg_database WHERE datdba = pg_catalog.to_regrole({0})) THEN\n"
            "    RAISE EXCEPTION 'pgsieve grants: role % owns objects; it will not strip it', {0}\n"
            "      USING HINT = 'give the policy a dedicated upstream role';\n"
            "  END IF;\n"
            "END $pgsieve$;\n",
            role_literal);
        out += fmt::format(
            "DO $pgsieve$ BEGIN\n"
            "  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {0}) THEN\n"
            "    CREATE ROLE {1} LOGIN;\n"
            "  END IF;\n"
            "END $pgsieve$;\n"
            "ALTER ROLE {1} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;\n"
            "-- Nothing wider than the policy: no role memberships (pg_read_server_files and the like),\n"
            "-- no privilege on any table, view or sequence, no CREATE on any schema.\n"
            "DO $pgsieve$ DECLARE r record; BEGIN\n"
            "  FOR r IN SELECT g.rolname FROM pg_catalog.pg_auth_members m\n"
            "           JOIN pg_catalog.pg_roles g ON g.oid = m.roleid JOIN pg_catalog.pg_roles u ON u.oid = m.member\n"
            "           WHERE u.rolname = {0} LOOP\n"
            "    EXECUTE pg_catalog.format('REVOKE %I FROM %I', r.rolname, {0});\n"
            "  END LOOP;\n"
            "  FOR r IN SELECT n.nspname, c.relname FROM pg_catalog.pg_class c\n"
            "           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
            "           WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S')\n"
            "             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' LOOP\n"
            "    EXECUTE pg_catalog.format('REVOKE ALL ON %I.%I FROM %I', r.nspname, r.relname, {0});\n"
            "  END LOOP;\n"
            "  FOR r IN SELECT nspname FROM pg_catalog.pg_namespace\n"
            "           WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_' LOOP\n"
            "    EXECUTE pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM %I', r.nspname, {0});\n"
            "  END LOOP;\n"
            "END $pgsieve$;\n",
            role_literal, role);
        for (const auto& schema : g.schemas) out += fmt::format("GRANT USAGE ON SCHEMA {} TO {};\n", sql_identifier(schema), role);
        for (const auto& t : g.tables) {
            const auto name = sql_qualified(t.relation->schema, t.relation->name);
            if (t.all_columns) out += fmt::format("GRANT SELECT ON {} TO {};\n", name, role);
            else if (!t.select.empty()) out += fmt::format("GRANT SELECT ({}) ON {} TO {};\n", column_list(t.select), name, role);
            if (!t.insert.empty()) out += fmt::format("GRANT INSERT ({}) ON {} TO {};\n", column_list(t.insert), name, role);
            if (!t.update.empty()) out += fmt::format("GRANT UPDATE ({}) ON {} TO {};\n", column_list(t.update), name, role);
            if (t.delete_) out += fmt::format("GRANT DELETE ON {} TO {};\n", name, role);
            for (const auto& [schema, sequence] : t.sequences)
                out += fmt::format("GRANT USAGE ON SEQUENCE {} TO {};\n", sql_qualified(schema, sequence), role);
        }
        out += "COMMIT;\n";
        for (const auto& t : g.tables) {
            if (t.rows.empty()) continue;
            const auto name = sql_qualified(t.relation->schema, t.relation->name);
            out += fmt::format(
                "\n-- Row scoping of {}: PostgreSQL's row-level security shows {} only the rows of its client's\n"
                "-- attributes, which pgsieve binds as pgsieve.<attribute> when it logs in. Enabling it hides\n"
                "-- the table's rows from every role that has no policy on it (its owner and BYPASSRLS roles\n"
                "-- excepted): give your application's roles a policy first if they read it.\n",
                comment_text(name), comment_text(g.role));
            out += "BEGIN;\n";
            out += fmt::format("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;\n", name);
            if (t.relation->owner == g.role)
                out += fmt::format("ALTER TABLE {} FORCE ROW LEVEL SECURITY;  -- {} owns it: owners bypass RLS otherwise\n",
                                   name, comment_text(g.role));
            for (const auto& [policy, scope] : t.rows) {
                const auto* column = t.relation->column(scope.column);
                const std::string cast =
                    column && !column->type.name.empty() ? "::" + sql_qualified(column->type.schema, column->type.name) : "";
                // No missing_ok: a session without the attribute errors rather than seeing rows.
                const std::string predicate =
                    fmt::format("{} = pg_catalog.current_setting({}){}", sql_identifier(scope.column),
                                quote_literal("pgsieve." + scope.attribute), cast);
                const auto policy_name = sql_identifier(rls_policy_name(policy));
                out += fmt::format("DROP POLICY IF EXISTS {} ON {};\n", policy_name, name);
                out += fmt::format("CREATE POLICY {} ON {} FOR ALL TO {}\n  USING ({})\n  WITH CHECK ({});\n",
                                   policy_name, name, role, predicate, predicate);
            }
            out += "COMMIT;\n";
        }
    }
    out += "\n-- Functions: EXECUTE is granted to PUBLIC by default, so the database does not narrow them;\n"
           "-- pgsieve's own analysis checks every function a statement calls.\n";
    return out;
}

}  // namespace pgsieve::policy
