#include <pgsieve/common/log.hpp>
#include <pgsieve/policy/lint.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::policy {

std::string_view to_string(lint_severity s) {
    switch (s) {
        case lint_severity::error: return "error";
        case lint_severity::warning: return "warning";
        case lint_severity::note: return "note";
    }
    return "note";
}

const std::vector<lint_rule_info>& lint_rules() {
    static const std::vector<lint_rule_info> rules = {
        {lint_rule::classified_without_reason, "PGSL001", "classified-without-reason",
         "A policy reads classified columns raw (accept_classified) without saying why."},
        {lint_rule::all_columns_with_classified, "PGSL002", "all-columns-with-classified",
         "A table is granted with all its columns, and some of them are classified."},
        {lint_rule::write_without_row_scope, "PGSL003", "write-without-row-scope",
         "A table is granted INSERT, UPDATE, DELETE or MERGE without rows: scoping (or with unbounded_writes)."},
        {lint_rule::introspection_without_descriptions, "PGSL004", "introspection-without-descriptions",
         "A policy with catalog: introspection grants a table without a description for the model."},
        {lint_rule::no_owner, "PGSL005", "no-owner", "A policy names no owner who answers for its changes."},
        {lint_rule::no_statement_timeout, "PGSL006", "no-statement-timeout",
         "A policy sets no statement_timeout: one statement may run for as long as PostgreSQL lets it."},
        {lint_rule::volatile_function, "PGSL007", "volatile-function",
         "A granted function is VOLATILE: it may change data or depend on more than its arguments."},
        {lint_rule::unused_grant, "PGSL008", "unused-grant",
         "A statement kind, table or column is granted that no statement used in the audit window."},
        {lint_rule::upstream_wider, "PGSL009", "upstream-wider",
         "The upstream role a policy logs in as may do more in PostgreSQL than the policy grants."},
        {lint_rule::monitor_mode, "PGSL010", "monitor-mode",
         "A policy is in monitor mode: it refuses nothing, only records what it would refuse."},
    };
    return rules;
}

const lint_rule_info& info(lint_rule r) {
    for (const auto& i : lint_rules())
        if (i.rule == r) return i;
    return lint_rules().front();
}

namespace {

int key_line(const config::policy& p, const std::string& key) {
    const auto it = p.key_lines.find(key);
    return it == p.key_lines.end() ? p.line : it->second;
}

bool is_write(config::table_verb v) { return v != config::table_verb::select; }

// The label of a classified column, or "".
std::string label_of(const config::config& cfg, const config::column_name& c) {
    for (const auto& [label, columns] : cfg.classification)
        if (columns.contains(c)) return label;
    return "";
}

void lint_policy(const config::config& cfg, const config::policy& p, const lint_inputs& in,
                 std::vector<lint_finding>& out) {
    const auto add = [&](lint_rule rule, lint_severity severity, int line, std::string message, std::string fix) {
        out.push_back({rule, severity, line, p.name, std::move(message), std::move(fix)});
    };
    if (p.mode == config::policy_mode::monitor)
        add(lint_rule::monitor_mode, lint_severity::note, key_line(p, "mode"),
            fmt::format("policy \"{}\" is in monitor mode: every statement runs, refusals are only recorded", p.name),
            "once `pgsieve policy test` shows no newly refused statements, set mode: enforce");
    if (p.owner.empty())
        add(lint_rule::no_owner, lint_severity::warning, p.line,
            fmt::format("policy \"{}\" has no owner: nobody answers for its changes (the owner is recorded with "
                        "every verdict)",
                        p.name),
            "add owner: <team or address> to the policy");
    if (!p.statement_timeout)
        add(lint_rule::no_statement_timeout, lint_severity::warning, p.line,
            fmt::format("policy \"{}\" sets no statement_timeout: one statement of its clients may hold "
                        "connections and locks for as long as PostgreSQL allows",
                        p.name),
            "add statement_timeout: 30s (or what its longest legitimate statement needs)");
    for (const auto& label : p.accept_classified) {
        if (p.classified_reasons.contains(label)) continue;
        add(lint_rule::classified_without_reason, lint_severity::warning, key_line(p, "accept_classified"),
            fmt::format("policy \"{}\" reads columns classified \"{}\" raw without a reason", p.name, label),
            fmt::format("write why: accept_classified: {{{}: {{reason: \"…\"}}}}, or remove the label", label));
    }
    if (p.catalog == config::catalog_access::introspection) {
        for (const auto& [name, g] : p.tables) {
            if (!g.description.empty()) continue;
            add(lint_rule::introspection_without_descriptions, lint_severity::note, g.line,
                fmt::format("table {} is visible to schema discovery without a description: the model sees its "
                            "name and columns only",
                            name.str()),
                fmt::format("add description: to tables.\"{}\" (and column_descriptions for unclear columns)",
                            name.str()));
        }
    }
    for (const auto& [name, g] : p.tables) {
        // Every column granted, some classified.
        if (!g.columns && in.cat) {
            if (const auto* rel = in.cat->relation(name.schema, name.name)) {
                std::vector<std::string> classified;
                bool raw = false;
                for (const auto& column : rel->columns) {
                    if (std::find(g.deny_columns.begin(), g.deny_columns.end(), column) != g.deny_columns.end())
                        continue;
                    const auto label = label_of(cfg, {name, column});
                    if (label.empty()) continue;
                    classified.push_back(fmt::format("{} ({})", column, label));
                    raw |= p.accept_classified.contains(label);
                }
                if (!classified.empty())
                    add(lint_rule::all_columns_with_classified, raw ? lint_severity::warning : lint_severity::note,
                        g.line,
                        fmt::format("table {} is granted with all its columns and has classified ones: {}{}",
                                    name.str(), fmt::join(classified, ", "),
                                    raw ? " — which this policy reads raw" : " (refused today by their label)"),
                        "list the columns the clients need under columns:");
            }
        } else if (!g.columns) {
            // Without the catalog, the classification itself names the columns.
            std::vector<std::string> classified;
            bool raw = false;
            for (const auto& [label, columns] : cfg.classification)
                for (const auto& c : columns)
                    if (c.table == name &&
                        std::find(g.deny_columns.begin(), g.deny_columns.end(), c.column) == g.deny_columns.end()) {
                        classified.push_back(fmt::format("{} ({})", c.column, label));
                        raw |= p.accept_classified.contains(label);
                    }
            if (!classified.empty())
                add(lint_rule::all_columns_with_classified, raw ? lint_severity::warning : lint_severity::note, g.line,
                    fmt::format("table {} is granted with all its columns and has classified ones: {}{}", name.str(),
                                fmt::join(classified, ", "),
                                raw ? " — which this policy reads raw" : " (refused today by their label)"),
                    "list the columns the clients need under columns:");
        }
        std::vector<std::string> writes;
        for (const auto v : g.allow)
            if (is_write(v)) writes.emplace_back(config::to_string(v));
        if (!writes.empty() && !g.rows)
            add(lint_rule::write_without_row_scope, lint_severity::warning, g.line,
                fmt::format("table {} is granted {} on every row: no rows: scoping limits which rows the clients "
                            "may change{}",
                            name.str(), fmt::join(writes, ", "),
                            g.unbounded_writes ? ", and unbounded_writes lets one statement change all of them" : ""),
                "scope the rows the clients may change with rows: {column: …, attribute: …}, or grant select only");
    }
    if (in.cat) {
        for (const auto& fn : p.functions) {
            const auto* overloads = in.cat->functions(fn.schema, fn.name);
            if (!overloads) continue;
            const bool is_volatile = std::any_of(overloads->begin(), overloads->end(),
                                                 [](const function_info& f) { return f.volatility == 'v'; });
            if (is_volatile)
                add(lint_rule::volatile_function, lint_severity::warning, key_line(p, "functions"),
                    fmt::format("function {} is VOLATILE: a statement that only reads may change data through it",
                                fn.str()),
                    fmt::format("mark it STABLE or IMMUTABLE if it only reads (ALTER FUNCTION {} STABLE), or remove "
                                "it from functions:",
                                fn.str()));
        }
    }
    if (in.usage) {
        const auto it = in.usage->find(p.name);
        const grant_usage none;
        const auto& used = it == in.usage->end() ? none : it->second;
        const auto unused = [&](int line, std::string what, std::string fix) {
            add(lint_rule::unused_grant, lint_severity::note, line,
                fmt::format("{} of policy \"{}\" was not used by any allowed statement in the last {} ({} statements)",
                            what, p.name, in.usage_window, used.statements),
                std::move(fix));
        };
        for (const auto k : p.statements)
            if (!used.kinds.contains(k))
                unused(key_line(p, "statements"), fmt::format("statement kind {}", config::to_string(k)),
                       fmt::format("remove {} from statements:", config::to_string(k)));
        for (const auto& [name, g] : p.tables) {
            if (!used.tables.contains(name)) {
                unused(g.line, fmt::format("table {}", name.str()), fmt::format("remove tables.\"{}\"", name.str()));
                continue;
            }
            for (const auto& column : g.columns.value_or(std::vector<std::string>{}))
                if (!used.columns.contains({name, column}))
                    unused(g.line, fmt::format("column {}.{}", name.str(), column),
                           fmt::format("remove {} from tables.\"{}\".columns", column, name.str()));
        }
    }
}

}  // namespace

std::vector<lint_finding> lint(const config::config& cfg, const lint_inputs& in) {
    std::vector<lint_finding> out;
    for (const auto& [name, p] : cfg.policies) lint_policy(cfg, p, in, out);
    if (in.upstream) {
        for (const auto& f : in.upstream->findings) {
            // Anchored at the first policy it concerns.
            int line = 0;
            std::string policy;
            if (!f.policies.empty()) {
                policy = f.policies.front();
                if (const auto* p = cfg.find_policy(policy)) line = key_line(*p, "upstream_user");
            }
            out.push_back({lint_rule::upstream_wider,
                           f.level == finding_level::warning ? lint_severity::warning : lint_severity::error, line,
                           policy,
                           fmt::format("upstream role \"{}\"{}: {}", f.role,
                                       f.object.empty() ? "" : fmt::format(" on {}", f.object), f.message),
                           f.fix});
        }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const lint_finding& a, const lint_finding& b) { return a.line < b.line; });
    return out;
}

std::string lint_text(const std::vector<lint_finding>& findings, const std::string& file) {
    std::string out;
    std::map<lint_severity, int> counts;
    for (const auto& f : findings) {
        ++counts[f.severity];
        out += fmt::format("{}:{}: {}: {} [{} {}]\n  fix: {}\n", file, f.line, to_string(f.severity), f.message,
                           info(f.rule).id, info(f.rule).name, f.fix);
    }
    out += fmt::format("{} error{}, {} warning{}, {} note{}\n", counts[lint_severity::error],
                       counts[lint_severity::error] == 1 ? "" : "s", counts[lint_severity::warning],
                       counts[lint_severity::warning] == 1 ? "" : "s", counts[lint_severity::note],
                       counts[lint_severity::note] == 1 ? "" : "s");
    return out;
}

std::string lint_json(const std::vector<lint_finding>& findings, const std::string& file) {
    std::string out = "{\"file\":" + log::json_string(file) + ",\"findings\":[";
    for (std::size_t i = 0; i < findings.size(); ++i) {
        const auto& f = findings[i];
        if (i) out += ",";
        out += fmt::format(
            "{{\"rule\":{},\"name\":{},\"severity\":{},\"line\":{},\"policy\":{},\"message\":{},\"fix\":{}}}",
            log::json_string(info(f.rule).id), log::json_string(info(f.rule).name), log::json_string(to_string(f.severity)), f.line, log::json_string(f.policy),
            log::json_string(f.message), log::json_string(f.fix));
    }
    return out + "]}";
}

std::string lint_sarif(const std::vector<lint_finding>& findings, const std::string& file, std::string_view version) {
    std::string rules;
    for (const auto& r : lint_rules()) {
        if (!rules.empty()) rules += ",";
        rules += fmt::format("{{\"id\":{},\"name\":{},\"shortDescription\":{{\"text\":{}}}}}", log::json_string(r.id), log::json_string(r.name),
                             log::json_string(r.description));
    }
    std::string results;
    for (const auto& f : findings) {
        if (!results.empty()) results += ",";
        const auto index = std::find_if(lint_rules().begin(), lint_rules().end(),
                                        [&](const lint_rule_info& r) { return r.rule == f.rule; }) -
                           lint_rules().begin();
        // A region's startLine is at least 1: a finding about the file as a whole points at its first line.
        results += fmt::format(
            "{{\"ruleId\":{},\"ruleIndex\":{},\"level\":{},\"message\":{{\"text\":{}}},"
            "\"locations\":[{{\"physicalLocation\":{{\"artifactLocation\":{{\"uri\":{}}},\"region\":{{\"startLine\":{}}}"
            "}}}}],\"properties\":{{\"fix\":{},\"policy\":{}}}}}",
            log::json_string(info(f.rule).id), index, log::json_string(to_string(f.severity)), log::json_string(f.message + " Fix: " + f.fix), log::json_string(file),
            std::max(f.line, 1), log::json_string(f.fix), log::json_string(f.policy));
    }
    return fmt::format(
        "{{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{{\"tool\":{{"
        "\"driver\":{{\"name\":\"pgsieve policy lint\",\"version\":{},\"rules\":[{}]}}}},\"results\":[{}]}}]}}",
        log::json_string(version), rules, results);
}

}  // namespace pgsieve::policy
