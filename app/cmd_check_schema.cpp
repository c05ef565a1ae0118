// pgsieve check -c FILE --client NAME --schema: what the client's schema
// discovery shows — its schemas, tables and views, their columns, functions
// and descriptions — for a DBA to review before going live. The queries run
// the way the client's own would: decided by its policy, scoped, and sent
// upstream as the policy's role.

#include "commands.hpp"

#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/policy/decide.hpp>

#include <fmt/format.h>

#include <iostream>

namespace pgsieve::cli {

namespace {

constexpr const char* user_schemas =
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp'";

std::string value(const policy::row& r, std::size_t i) { return i < r.size() && r[i] ? *r[i] : std::string(); }

}  // namespace

int print_schema(const config::config& cfg, const config::client& client, const policy::catalog& catalog) {
    const auto& policy = *cfg.find_policy(client.policy);
    if (policy.catalog != config::catalog_access::introspection) {
        fmt::print("client \"{}\" (policy \"{}\", catalog: none) cannot discover the schema: catalog queries are refused.\n"
                   "It can query the tables its policy grants by name:\n",
                   client.name, policy.name);
        for (const auto& [name, grant] : policy.tables) fmt::print("  {}\n", name.str());
        return exit_ok;
    }
    const std::vector<std::string> discovery{
        fmt::format("SELECT n.nspname, pg_catalog.obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n "
                    "WHERE {} ORDER BY 1",
                    user_schemas),
        fmt::format("SELECT n.nspname, c.relname, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' "
                    "WHEN 'f' THEN 'foreign table' ELSE 'table' END, pg_catalog.obj_description(c.oid, 'pg_class') "
                    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {} ORDER BY 1, 2",
                    user_schemas),
        fmt::format("SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
                    "pg_catalog.col_description(c.oid, a.attnum) FROM pg_catalog.pg_attribute a "
                    "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', "
                    "'f') AND {} ORDER BY 1, 2, a.attnum",
                    user_schemas),
        fmt::format("SELECT n.nspname, p.proname, pg_catalog.pg_get_function_arguments(p.oid), "
                    "pg_catalog.pg_get_function_result(p.oid), pg_catalog.obj_description(p.oid, 'pg_proc') "
                    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {} "
                    "ORDER BY 1, 2, 3",
                    user_schemas)};
    const policy::context ctx{cfg, policy, catalog, cfg.upstream.search_path, cfg.upstream_user_of(policy), nullptr};
    std::vector<std::string> scoped;
    for (const auto& sql : discovery) {
        const auto d = policy::decide(sql, ctx);
        if (!d.allowed) {
            std::cerr << "pgsieve check --schema: the policy refuses discovery: " << d.message << "\n";
            return exit_refused;
        }
        scoped.push_back(d.scoped_sql.empty() ? sql : d.scoped_sql);
    }
    const auto rows = net::query_upstream(cfg, cfg.upstream_user_of(policy), cfg.upstream_password_of(policy), scoped);
    if (!rows) {
        std::cerr << "pgsieve check --schema: " << rows.error() << "\n";
        return exit_usage;
    }
    const auto& r = *rows;
    fmt::print("What client \"{}\" (policy \"{}\"{}) sees through schema discovery:\n", client.name, policy.name,
               policy.mode == config::policy_mode::monitor ? ", monitor mode: discovery is NOT scoped" : "");
    fmt::print("\nschemas\n");
    for (const auto& s : r[0]) {
        const auto d = value(s, 1);
        fmt::print("  {}{}\n", value(s, 0), d.empty() ? "" : "  -- " + d);
    }
    fmt::print("\ntables\n");
    for (const auto& t : r[1]) {
        const auto d = value(t, 3);
        fmt::print("  {}.{} ({}){}\n", value(t, 0), value(t, 1), value(t, 2), d.empty() ? "" : "  -- " + d);
        for (const auto& c : r[2]) {
            if (value(c, 0) != value(t, 0) || value(c, 1) != value(t, 1)) continue;
            const auto cd = value(c, 4);
            fmt::print("      {} {}{}\n", value(c, 2), value(c, 3), cd.empty() ? "" : "  -- " + cd);
        }
    }
    fmt::print("\nfunctions\n");
    for (const auto& f : r[3]) {
        const auto d = value(f, 4);
        fmt::print("  {}.{}({}) returns {}{}\n", value(f, 0), value(f, 1), value(f, 2), value(f, 3),
                   d.empty() ? "" : "  -- " + d);
    }
    return exit_ok;
}

}  // namespace pgsieve::cli
