#include "check_references.hpp"

#include "builtins.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace pgsieve::policy::detail {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : std::string(separator)) + i;
    return out;
}

std::string statements_of(const config::policy& p) {
    std::vector<std::string> names;
    for (const auto k : p.statements) names.emplace_back(config::to_string(k));
    return join(names);
}

std::string tables_of(const config::policy& p) {
    std::vector<std::string> names;
    for (const auto& [name, grant] : p.tables) names.push_back(name.str());
    return names.empty() ? "none" : join(names);
}

namespace {

const config::table_grant* grant_of(const relation_info& rel, const context& ctx) {
    const auto it = ctx.policy.tables.find(config::qualified_name{rel.schema, rel.name});
    return it == ctx.policy.tables.end() ? nullptr : &it->second;
}

bool introspection(const relation_info& rel, const context& ctx) {
    return ctx.policy.catalog == config::catalog_access::introspection &&
           builtins::introspection_relation(rel.schema, rel.name);
}

std::vector<std::string> allowed_columns(const config::table_grant* grant, const relation_info& rel,
                                         const context& ctx) {
    std::vector<std::string> out;
    for (const auto& c : rel.columns) {
        if (column_rule(grant, rel, c, ctx).empty()) out.push_back(c);
    }
    return out;
}

}  // namespace

std::string column_rule(const config::table_grant* grant, const relation_info& rel, const std::string& column,
                        const context& ctx) {
    if (!grant) return {};  // an introspection relation: every column
    if (grant->columns &&
        std::find(grant->columns->begin(), grant->columns->end(), column) == grant->columns->end())
        return fmt::format("tables.{}.columns lists the columns that may be read", rel.schema + "." + rel.name);
    if (std::find(grant->deny_columns.begin(), grant->deny_columns.end(), column) != grant->deny_columns.end())
        return fmt::format("tables.{}.deny_columns names it", rel.schema + "." + rel.name);
    const config::column_name key{{rel.schema, rel.name}, column};
    for (const auto& [label, columns] : ctx.cfg.classification) {
        if (columns.contains(key) && !ctx.policy.accept_classified.contains(label))
            return fmt::format("the column is classified \"{}\" and the policy does not accept_classified it", label);
    }
    return {};
}

verdict check_relation(const relation_info& rel, int location, const context& ctx) {
    if (grant_of(rel, ctx) || introspection(rel, ctx)) return std::nullopt;
    const std::string name = rel.schema + "." + rel.name;
    std::string hint = fmt::format("allowed tables: {}", tables_of(ctx.policy));
    std::string detail = "rule: tables (only listed relations may be used)";
    if (rel.schema == "pg_catalog" || rel.schema == "information_schema") {
        detail = ctx.policy.catalog == config::catalog_access::introspection
                     ? "rule: catalog: introspection grants schema-discovery relations only; this one can reveal "
                       "data, roles or server state"
                     : "rule: catalog: none (the policy grants no catalog introspection)";
    }
    return refusal{"relation",
                   fmt::format("pgsieve: {} \"{}\" is not allowed by policy \"{}\"",
                               rel.kind == 'v' || rel.kind == 'm' ? "view" : "table", name, ctx.policy.name),
                   detail, hint, location};
}

verdict check_reads(const resolution& res, const context& ctx, decision& out) {
    for (const auto& use : res.relations) {
        if (auto v = check_relation(*use.relation, use.location, ctx)) return v;
        const std::string name = use.relation->schema + "." + use.relation->name;
        if (std::find(out.tables.begin(), out.tables.end(), name) == out.tables.end()) out.tables.push_back(name);
    }
    for (const auto& r : res.reads) {
        const auto* grant = grant_of(*r.relation, ctx);
        const std::string rule = column_rule(grant, *r.relation, r.column, ctx);
        const std::string table = r.relation->schema + "." + r.relation->name;
        if (!rule.empty()) {
            const auto allowed = allowed_columns(grant, *r.relation, ctx);
            return refusal{"column",
                           fmt::format("pgsieve: column \"{}\" of table \"{}\" is not allowed by policy \"{}\"",
                                       r.column, table, ctx.policy.name),
                           "rule: " + rule,
                           fmt::format("allowed columns of {}: {}{}", table, allowed.empty() ? "none" : join(allowed),
                                       r.location >= 0 ? "" : " (the reference is implied: *, t.*, a whole row, "
                                                             "USING or NATURAL)"),
                           r.location};
        }
        const std::string column = table + "." + r.column;
        if (std::find(out.columns.begin(), out.columns.end(), column) == out.columns.end())
            out.columns.push_back(column);
    }
    return std::nullopt;
}

verdict check_functions(const parser::statement_facts& f, const context& ctx, decision& out) {
    for (const auto& fn : f.functions) {
        if (fn.name.empty() || fn.name.size() > 2) {
            return refusal{"function", "pgsieve: function name not understood", "rule: functions", "", fn.location};
        }
        const std::string& name = fn.name.back();
        const std::vector<function_info>* overloads =
            fn.name.size() == 2 ? ctx.cat.functions(fn.name[0], name) : ctx.cat.resolve_function(name, ctx.search_path);
        if (!overloads || overloads->empty()) {
            return refusal{"function",
                           fmt::format("pgsieve: function \"{}\" does not exist or is not visible",
                                       join(fn.name, ".")),
                           "rule: functions must resolve in the catalog (pg_catalog, then the session's search_path)",
                           "", fn.location};
        }
        const auto& schema = overloads->front().schema;
        const std::string qualified = schema + "." + name;
        const bool listed = std::any_of(ctx.policy.functions.begin(), ctx.policy.functions.end(),
                                        [&](const auto& q) { return q.schema == schema && q.name == name; });
        std::string rule;
        if (!listed) {
            if (schema != "pg_catalog") {
                rule = "rule: functions (a function outside pg_catalog must be listed in the policy's functions)";
            } else if (const auto why = builtins::denied_function(name); !why.empty()) {
                rule = fmt::format("rule: built-in deny list ({})", why);
            } else if (builtins::introspection_function(name) &&
                       ctx.policy.catalog != config::catalog_access::introspection) {
                rule = "rule: catalog: none (schema-introspection helpers need catalog: introspection)";
            } else {
                // Every overload must be safe: the analysis does not pick one by argument types.
                for (const auto& o : *overloads) {
                    if (o.kind == 'p') rule = "rule: procedures are not called from queries";
                    else if (o.volatility == 'v' && !builtins::harmless_volatile(name))
                        rule = "rule: volatile built-in functions are refused unless known to be harmless";
                }
            }
        }
        if (!rule.empty()) {
            std::vector<std::string> listed_names;
            for (const auto& q : ctx.policy.functions) listed_names.push_back(q.str());
            return refusal{"function",
                           fmt::format("pgsieve: function \"{}\" is not allowed by policy \"{}\"", qualified,
                                       ctx.policy.name),
                           rule,
                           listed_names.empty()
                               ? std::string("immutable and stable built-in functions are allowed")
                               : fmt::format("immutable and stable built-ins are allowed, and: {}", join(listed_names)),
                           fn.location};
        }
        if (std::find(out.functions.begin(), out.functions.end(), qualified) == out.functions.end())
            out.functions.push_back(qualified);
    }
    return std::nullopt;
}

verdict check_operators(const parser::statement_facts& f, const context& ctx) {
    for (const auto& op : f.operators) {
        if (op.name.empty()) continue;
        const std::string& name = op.name.back();
        const std::string schema = op.name.size() == 2 ? op.name[0] : std::string();
        if (schema == "pg_catalog") continue;
        for (const auto* user : ctx.cat.user_operators(name)) {
            const bool visible = schema.empty()
                                     ? std::find(ctx.search_path.begin(), ctx.search_path.end(), user->schema) !=
                                           ctx.search_path.end()
                                     : user->schema == schema;
            if (!visible) continue;
            const bool listed = std::any_of(ctx.policy.functions.begin(), ctx.policy.functions.end(), [&](const auto& q) {
                return q.schema == user->function_schema && q.name == user->function_name;
            });
            if (!listed)
                return refusal{"operator",
                               fmt::format("pgsieve: operator {}.{} (function {}.{}) is not allowed by policy \"{}\"",
                                           user->schema, name, user->function_schema, user->function_name,
                                           ctx.policy.name),
                               "rule: operators defined outside pg_catalog need their function in the policy's "
                               "functions",
                               fmt::format("add {}.{} to functions to allow it", user->function_schema,
                                           user->function_name),
                               op.location};
        }
    }
    return std::nullopt;
}

}  // namespace pgsieve::policy::detail
