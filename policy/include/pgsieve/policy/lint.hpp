#pragma once
// `pgsieve policy lint`: what in a configuration is wider than it needs to
// be, each finding with its severity, file:line and a fix. Rules that need
// the upstream catalog (volatile functions, the upstream roles) or the audit
// (grants nothing used) run when they are given. Sans-io.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>
#include <pgsieve/policy/upstream_check.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pgsieve::policy {

enum class lint_severity { error, warning, note };
std::string_view to_string(lint_severity s);

// The rules, one id each (SARIF's ruleId); lint_rules() describes them.
enum class lint_rule {
    classified_without_reason,
    all_columns_with_classified,
    write_without_row_scope,
    introspection_without_descriptions,
    no_owner,
    no_statement_timeout,
    volatile_function,
    unused_grant,
    upstream_wider,
    monitor_mode,
};
struct lint_rule_info {
    lint_rule rule;
    std::string_view id;     // PGSL001…
    std::string_view name;   // kebab-case
    std::string_view description;
};
const std::vector<lint_rule_info>& lint_rules();
const lint_rule_info& info(lint_rule r);

struct lint_finding {
    lint_rule rule = lint_rule::no_owner;
    lint_severity severity = lint_severity::warning;
    int line = 0;        // in the configuration file; 0 for the file as a whole
    std::string policy;  // the policy it is about ("" for none)
    std::string message;
    std::string fix;
};

// What a policy's statements used in the audit window (allowed statements
// only), for the unused-grant rule.
struct grant_usage {
    std::uint64_t statements = 0;
    std::set<config::statement_kind> kinds;
    std::set<config::qualified_name> tables;
    std::set<config::column_name> columns;
};

struct lint_inputs {
    const catalog* cat = nullptr;                            // --upstream or --catalog
    const upstream_report* upstream = nullptr;               // --upstream
    const std::map<std::string, grant_usage>* usage = nullptr;  // --audit: by policy
    std::string usage_window;                                // "30d", for messages
};

[[nodiscard]] std::vector<lint_finding> lint(const config::config& cfg, const lint_inputs& in);

// Outputs. `file`: the configuration's path as findings name it.
std::string lint_text(const std::vector<lint_finding>& findings, const std::string& file);
std::string lint_json(const std::vector<lint_finding>& findings, const std::string& file);
// SARIF 2.1.0 (OASIS), as code-scanning tools read it.
std::string lint_sarif(const std::vector<lint_finding>& findings, const std::string& file, std::string_view version);

}  // namespace pgsieve::policy
