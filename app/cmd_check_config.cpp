// pgsieve check-config -c FILE: validate without serving, and show what the
// file means so a reviewer can see who gets which policy.

#include "commands.hpp"

#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/policy/upstream_check.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

namespace pgsieve::cli {

namespace {

template <class Set>
std::string join_names(const Set& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(config::to_string(item));
    return out.empty() ? "-" : out;
}

void print_summary(const config::config& cfg) {
    const auto& l = cfg.listen;
    const auto& u = cfg.upstream;
    fmt::print("{}: OK\n", cfg.source_path);
    fmt::print("listen    {}:{}  tls: {}  max_connections: {}\n", l.address, l.port,
               l.tls ? std::string(config::to_string(l.tls->mode)) : "off", l.max_connections);
    fmt::print("upstream  {}@{}:{}/{}  sslmode: {}  search_path: {}\n", u.user, u.host, u.port, u.database,
               config::to_string(u.ssl), fmt::join(u.search_path, ","));
    fmt::print("audit     {}  store_sql: {}  on_failure: {}\n", cfg.audit.sqlite, config::to_string(cfg.audit.sql),
               config::to_string(cfg.audit.failure));

    std::size_t width = 6;
    for (const auto& c : cfg.clients) width = std::max(width, c.name.size());
    fmt::print("\nclients ({})\n", cfg.clients.size());
    for (const auto& c : cfg.clients) {
        fmt::print("  {:<{}}  policy {}{}\n", c.name, width, c.policy,
                   c.max_connections ? fmt::format("  max_connections {}", *c.max_connections) : "");
    }

    fmt::print("\npolicies ({})\n", cfg.policies.size());
    for (const auto& [name, p] : cfg.policies) {
        fmt::print("  {}  mode: {}  statements: {}  catalog: {}{}\n", name, config::to_string(p.mode),
                   join_names(p.statements), config::to_string(p.catalog),
                   p.owner.empty() ? "" : "  owner: " + p.owner);
        for (const auto& [table, grant] : p.tables) {
            std::string columns = "all columns";
            if (grant.columns) columns = fmt::format("columns {}", fmt::join(*grant.columns, ", "));
            else if (!grant.deny_columns.empty()) columns = fmt::format("all but {}", fmt::join(grant.deny_columns, ", "));
            fmt::print("    {}  {}  [{}]{}\n", table.str(), columns, join_names(grant.allow),
                       grant.max_rows_written ? fmt::format("  max_rows_written {}", grant.max_rows_written) : "");
        }
        if (!p.masks.empty()) {
            // What the policy's clients see masked: selected as is only, values replaced in the result.
            std::vector<std::string> masked;
            for (const auto& [column, method] : p.masks) masked.push_back(fmt::format("{} ({})", column.str(), config::to_string(method)));
            fmt::print("    masked: {}\n", fmt::join(masked, ", "));
        }
        if (const auto& a = p.approval) {
            std::vector<std::string> tables;
            for (const auto& t : a->tables) tables.push_back(t.str());
            fmt::print("    approval: {} on {}, timeout {}s{}\n", a->statements.empty() ? "every write" : join_names(a->statements),
                       tables.empty() ? "every table" : fmt::format("{}", fmt::join(tables, ", ")),
                       std::chrono::duration_cast<std::chrono::seconds>(a->timeout).count(),
                       a->webhook ? ", webhook " + a->webhook->endpoint : "");
        }
    }
}

// The same check `serve` makes at every catalog load, as a report.
int check_upstream(const config::config& cfg) {
    const auto catalog = net::load_catalog(cfg);
    if (!catalog) {
        std::cerr << "pgsieve: " << catalog.error() << "\n";
        return exit_refused;
    }
    const auto report = policy::check_upstream(cfg, **catalog);
    fmt::print("\nupstream roles\n");
    for (const auto& role : cfg.upstream_roles()) {
        std::vector<std::string> policies;
        for (const auto& [name, p] : cfg.policies) {
            if (cfg.upstream_user_of(p) == role) policies.push_back(name);
        }
        std::size_t problems = 0;
        for (const auto& f : report.findings) problems += f.role == role;
        fmt::print("  {}  {}  {}\n", role,
                   policies.empty() ? "reads the catalog only" : fmt::format("policies {}", fmt::join(policies, ", ")),
                   problems == 0 ? "ok: holds no more than its policies grant" : fmt::format("{} finding(s)", problems));
    }
    if (!report.findings.empty()) fmt::print("\n{}", report.summary());
    bool refuses = report.stops();
    for (const auto& f : report.findings) refuses |= f.level == policy::finding_level::refuse_clients;
    if (report.stops()) fmt::print("\nserve would not start.\n");
    else if (refuses) fmt::print("\nserve would start, and refuse the clients of the policies named above.\n");
    return refuses ? exit_refused : exit_ok;
}

}  // namespace

void print_config_errors(const std::vector<config::load_error>& errors, const std::string& file,
                         std::string_view consequence) {
    for (const auto& e : errors) std::cerr << e.str() << "\n";
    std::cerr << fmt::format("pgsieve: {} error{} in {}{}\n", errors.size(), errors.size() == 1 ? "" : "s", file,
                             consequence);
}

int run_check_config(const check_config_options& options) {
    const auto loaded = config::load_file(options.config_file);
    if (!loaded) {
        print_config_errors(loaded.error(), options.config_file);
        return exit_usage;
    }
    const auto& cfg = **loaded;
    for (const auto& w : cfg.warnings)
        std::cerr << fmt::format("{}:{}: {}: warning: {}\n", cfg.source_path, w.line, w.key, w.message);
    print_summary(cfg);
    return options.upstream ? check_upstream(cfg) : exit_ok;
}

}  // namespace pgsieve::cli
