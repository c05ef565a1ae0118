// pgsieve check -c FILE --client NAME [--json] "SQL": the decision a client's
// policy makes for a statement, against the upstream's live catalog.

#include "commands.hpp"

#include <pgsieve/audit/records.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/policy/decide.hpp>

#include <fmt/format.h>

#include <iostream>
#include <iterator>

namespace pgsieve::cli {

namespace {

std::string json_list(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& i : items) {
        if (out.size() > 1) out += ",";
        log::append_json_string(out, i);
    }
    return out + "]";
}

// The result's masked columns as the audit records them.
std::string masked_json(const policy::decision& d) {
    std::vector<audit::statement::masked_column> out;
    for (const auto& m : d.masked) out.push_back({m.position, m.column, std::string(config::to_string(m.method)), true});
    for (const auto& m : d.would_mask) out.push_back({m.position, m.column, std::string(config::to_string(m.method)), false});
    return audit::masked_columns_json(out);
}

// The line of `sql` holding character `position` (1-based) and a caret under it.
std::string caret(std::string_view sql, int position) {
    int chars = 0;
    std::size_t line_start = 0;
    std::size_t column = 0;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if ((static_cast<unsigned char>(sql[i]) & 0xC0) == 0x80) continue;
        if (++chars == position) break;
        if (sql[i] == '\n') {
            line_start = i + 1;
            column = 0;
        } else {
            ++column;
        }
    }
    const auto end = sql.find('\n', line_start);
    const auto line = sql.substr(line_start, end == std::string_view::npos ? std::string_view::npos : end - line_start);
    return fmt::format("  {}\n  {}^", line, std::string(column, ' '));
}

}  // namespace

int run_check(const check_options& options) {
    const auto loaded = config::load_file(options.config_file);
    if (!loaded) {
        print_config_errors(loaded.error(), options.config_file);
        return exit_usage;
    }
    const auto& cfg = **loaded;
    const auto* client = cfg.find_client(options.client);
    if (!client) {
        std::vector<std::string> names;
        for (const auto& c : cfg.clients) names.push_back(c.name);
        std::cerr << fmt::format("pgsieve check: no client \"{}\" in {} (clients: {})\n", options.client,
                                 options.config_file, fmt::join(names, ", "));
        return exit_usage;
    }
    const auto& policy = *cfg.find_policy(client->policy);
    const auto catalog = net::load_catalog(cfg);
    if (!catalog) {
        std::cerr << "pgsieve check: cannot read the catalog from the " << catalog.error() << "\n";
        return exit_usage;
    }
    if (options.schema) return print_schema(cfg, *client, **catalog);
    const policy::context ctx{cfg, policy, **catalog, cfg.upstream.search_path, cfg.upstream_user_of(policy), nullptr};
    const auto as_json = [&](std::string_view sql) {
        const auto d = policy::decide(sql, ctx);
        const std::string verdict = !d.allowed ? "refused" : d.would_block ? "would_block" : "allowed";
        return fmt::format(
            "{{\"verdict\":\"{}\",\"client\":{},\"policy\":{},\"rule\":{},\"message\":{},\"detail\":{},\"hint\":{},"
            "\"decided_by\":{},\"position\":{},\"tables\":{},\"columns\":{},\"functions\":{},\"scoped\":{},"
            "\"scoped_sql\":{},\"masked\":{}}}",
            verdict, log::json_string(client->name), log::json_string(policy.name), log::json_string(policy::to_string(d.rule)),
            log::json_string(d.message), log::json_string(d.detail), log::json_string(d.hint), log::json_string(d.internal_detail),
            d.position, json_list(d.tables),
            json_list(d.columns), json_list(d.functions), json_list(d.scoped), log::json_string(d.scoped_sql), masked_json(d));
    };
    if (options.batch) {
        // Statements separated by NUL bytes on stdin (NUL cannot occur in SQL text): one JSON line each.
        std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
        std::size_t start = 0;
        while (start < input.size()) {
            const auto end = std::min(input.find('\0', start), input.size());
            std::cout << as_json(std::string_view(input).substr(start, end - start)) << "\n";
            start = end + 1;
        }
        return std::cout ? exit_ok : exit_usage;
    }
    const auto d = policy::decide(options.sql, ctx);
    const bool refused = !d.allowed || d.would_block;
    if (options.json) {
        std::cout << as_json(options.sql) << "\n";
        return refused ? exit_refused : exit_ok;
    }
    if (refused) {
        std::cout << fmt::format("{}  {}\n", d.would_block ? "would be refused (monitor mode: relayed)" : "refused",
                                 d.message);
        if (!d.detail.empty()) std::cout << fmt::format("  detail: {}\n", d.detail);
        // For the policy's owner: what decided, which the client is not told.
        if (!d.internal_detail.empty()) std::cout << fmt::format("  decided by: {}\n", d.internal_detail);
        if (!d.hint.empty()) std::cout << fmt::format("  hint:   {}\n", d.hint);
        if (d.position > 0) std::cout << caret(options.sql, d.position) << "\n";
        return exit_refused;
    }
    std::cout << fmt::format("allowed  by policy \"{}\" for client \"{}\"\n", policy.name, client->name);
    if (!d.tables.empty()) std::cout << fmt::format("  tables:    {}\n", fmt::join(d.tables, ", "));
    if (!d.columns.empty()) std::cout << fmt::format("  columns:   {}\n", fmt::join(d.columns, ", "));
    if (!d.functions.empty()) std::cout << fmt::format("  functions: {}\n", fmt::join(d.functions, ", "));
    const auto& masked = d.masked.empty() ? d.would_mask : d.masked;
    for (const auto& m : masked)
        std::cout << fmt::format("  masked:    output column {} ({}) as {}{}\n", m.position + 1, m.column,
                                 config::to_string(m.method), d.masked.empty() ? " (monitor mode: not applied)" : "");
    if (!d.scoped.empty())
        std::cout << fmt::format("  scoped:    {} (limited to what the policy grants{})\n", fmt::join(d.scoped, ", "),
                                 policy.mode == config::policy_mode::monitor ? "; monitor mode: not applied" : "");
    return exit_ok;
}

}  // namespace pgsieve::cli
