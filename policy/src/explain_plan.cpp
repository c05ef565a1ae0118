#include "explain_plan.hpp"

#include "check_references.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::policy::detail {

namespace {

// decision::tables holds schema.table; a schema name may itself hold a dot.
const relation_info* relation_named(const std::string& qualified, const context& ctx) {
    for (auto dot = qualified.find('.'); dot != std::string::npos; dot = qualified.find('.', dot + 1)) {
        if (const auto* rel = ctx.cat.relation(qualified.substr(0, dot), qualified.substr(dot + 1))) return rel;
    }
    return nullptr;
}

// Why a plan over `rel` could name something hidden; empty when it cannot.
std::string plan_exposure(const relation_info& rel, const context& ctx) {
    if (rel.schema == "pg_catalog" || rel.schema == "information_schema")
        return "a plan over PostgreSQL's catalog counts the rows (objects) the policy does not show";
    if (rel.kind != 'r' && rel.kind != 'm')
        return rel.kind == 'v' ? "a view's plan names the relations it reads"
                               : "the plan names the relations behind a partitioned or foreign table";
    if (rel.has_subclass) return "the plan names the table's inheritance children";
    if (rel.row_security) return "row-level security adds its policies' expressions and sub-plans to the plan";
    const auto it = ctx.policy.tables.find(config::qualified_name{rel.schema, rel.name});
    const config::table_grant* grant = it == ctx.policy.tables.end() ? nullptr : &it->second;
    for (const auto& c : rel.index_columns) {
        if (c.empty()) return "an index with an expression or a predicate may appear in the plan";
        if (!column_rule(grant, rel, c, ctx).empty()) return "an index on a column the policy hides may appear in the plan";
    }
    return {};
}

}  // namespace

verdict check_explain_plan(const parser::statement_facts& explain, const parser::statement_facts& inner,
                           const decision& reads, bool scoped, const context& ctx) {
    std::string why;
    if (inner.kind == parser::statement_kind::execute) {
        why = "EXPLAIN EXECUTE shows the plan of a prepared statement";
    } else if (scoped) {
        why = "a catalog query's plan is not scoped";
    } else {
        for (const auto& fn : reads.functions) {
            if (!fn.starts_with("pg_catalog.")) {
                why = fmt::format("the plan may show the body of function {}", fn);
                break;
            }
        }
        for (const auto& table : reads.tables) {
            if (!why.empty()) break;
            const auto* rel = relation_named(table, ctx);
            why = rel ? plan_exposure(*rel, ctx) : fmt::format("relation {} is not in the catalog", table);
            if (!why.empty()) why = fmt::format("{}: {}", table, why);
        }
    }
    if (why.empty()) return std::nullopt;
    const auto skip = explain.text.find_first_not_of(" \t\r\n");
    refusal r{rule::statement,
              fmt::format("pgsieve: EXPLAIN of this statement could show objects policy \"{}\" does not show",
                          ctx.policy.name),
              "rule: explain (a plan names every relation, index, row-level security filter and inlined function "
              "it uses; pgsieve allows a plan only over tables whose plan cannot name anything else)",
              "run the statement itself; EXPLAIN works for queries over granted tables without row-level "
              "security, inheritance or indexes on hidden columns, and without user functions",
              explain.location + static_cast<int>(skip == std::string::npos ? 0 : skip)};
    // The reviewer sees which; the client is not told what a hidden object looks like.
    r.internal_detail = why;
    return r;
}

}  // namespace pgsieve::policy::detail
