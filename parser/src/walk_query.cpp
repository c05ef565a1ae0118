// Query levels: SELECT (VALUES, set operations), their FROM entries, CTEs,
// output columns, and the sort, grouping and window clauses. Every field of
// a SelectStmt is read here or walked by its role: none is skipped, whatever
// the shape (a VALUES list keeps its ORDER BY, LIMIT and OFFSET).

#include "walker.hpp"

#include <fmt/format.h>

namespace pgsieve::parser::detail {

int walker::new_query(int parent, bool lateral_scope) {
    query q;
    q.parent = parent;
    q.lateral_scope = lateral_scope;
    f_.queries.push_back(std::move(q));
    return static_cast<int>(f_.queries.size()) - 1;
}

relation_ref walker::relation(node& range_var) {
    relation_ref r;
    r.location = range_var.location();
    // catalog.schema.table names another database: PostgreSQL refuses
    // cross-database references, and so do we.
    if (!range_var.take_string("catalogname").empty()) unsupported("a cross-database reference", r.location);
    r.schema = std::string(range_var.take_string("schemaname"));
    r.name = std::string(range_var.take_string("relname"));
    f_.relations.push_back(r);
    return r;
}

void walker::alias(node& holder, range_entry& entry) {
    const auto a = holder.take("alias");
    if (!a) return;
    auto n = open_message(*a, "Alias");
    if (!n) return;
    entry.alias = std::string(n->take_string("aliasname"));
    if (const auto cols = n->take("colnames")) {
        auto names = string_list(*cols);
        if (names) entry.column_aliases = std::move(*names);
        else unsupported("Alias.colnames", entry.location);
    }
    finish(*n, {});
}

int walker::query_node(element e, int parent, bool lateral_scope) {
    const auto t = node_of(e);
    // INSERT/UPDATE/DELETE/MERGE inside WITH: the statement writes, and is refused.
    if (t.ok && (t.type == "InsertStmt" || t.type == "UpdateStmt" || t.type == "DeleteStmt" || t.type == "MergeStmt")) {
        f_.data_modifying_cte = true;
        return -1;
    }
    const depth_guard guard(*this);
    if (!guard.ok) return -1;
    auto n = open(e, "SelectStmt");
    if (!n) return -1;
    const int q = select(*n, parent, lateral_scope);
    finish(*n, {q, clause::other});
    return q;
}

void walker::with_clause(int q, element with) {
    auto w = open_message(with, "WithClause");
    if (!w) return;
    f_.queries[q].recursive = w->take_bool("recursive");
    if (const auto ctes = w->take("ctes")) {
        array list;
        if (ctes->get_array().get(list) != simdjson::SUCCESS) unsupported("WithClause.ctes");
        else {
            for (element item : list) {
                auto c = open(item, "CommonTableExpr");
                if (!c) continue;
                cte entry;
                entry.name = std::string(c->take_string("ctename"));
                if (const auto cols = c->take("aliascolnames")) {
                    if (auto names = string_list(*cols)) entry.column_aliases = std::move(*names);
                }
                if (const auto s = c->take("search_clause")) {
                    if (auto sc = open_message(*s, "CTESearchClause")) {
                        entry.added_columns.emplace_back(sc->take_string("search_seq_column"));
                        finish(*sc, {q, clause::other});
                    }
                }
                if (const auto cy = c->take("cycle_clause")) {
                    if (auto cc = open_message(*cy, "CTECycleClause")) {
                        entry.added_columns.emplace_back(cc->take_string("cycle_mark_column"));
                        entry.added_columns.emplace_back(cc->take_string("cycle_path_column"));
                        finish(*cc, {q, clause::other});
                    }
                }
                // Registered before its body, so a recursive CTE sees itself.
                f_.queries[q].ctes.push_back(entry);
                const auto at = f_.queries[q].ctes.size() - 1;
                if (const auto body = c->take("ctequery")) f_.queries[q].ctes[at].query = query_node(*body, q, false);
                finish(*c, {q, clause::other});
            }
        }
    }
    finish(*w, {q, clause::other});
}

void walker::targets(int q, std::optional<element> list, clause c, bool record_outputs) {
    if (!list) return;
    array items;
    if (list->get_array().get(items) != simdjson::SUCCESS) {
        unsupported("a target list pgsieve cannot read");
        return;
    }
    for (element item : items) {
        auto rt = open(item, "ResTarget");
        if (!rt) continue;
        const auto name = rt->take_string("name");
        const auto val = rt->take("val");
        const int value = val ? expression({q, c}, *val) : -1;
        if (record_outputs && val) {
            target out;
            out.expr = value;
            const auto v = node_of(*val);
            if (v.ok && v.type == "ColumnRef" && name.empty()) {
                element fields;
                if (v.fields["fields"].get(fields) == simdjson::SUCCESS) {
                    array parts;
                    std::vector<std::string> qualifier;
                    if (as_list(fields, parts)) {
                        for (element part : parts) {
                            const auto p = node_of(part);
                            if (p.type == "A_Star") out.star = true;
                            else qualifier.emplace_back(string_field(p.fields, "sval"));
                        }
                    }
                    if (out.star) out.qualifier = std::move(qualifier);
                }
            }
            if (!out.star) out.name = name.empty() ? figure_column_name(*val) : std::string(name);
            f_.queries[q].targets.push_back(std::move(out));
        }
        finish(*rt, {q, c});
    }
}

namespace {
// Whether an expression is a bare column name (ORDER BY x, GROUP BY x).
bool bare_name(element e) {
    const auto n = node_of(e);
    if (!n.ok || n.type != "ColumnRef") return false;
    array parts;
    if (n.fields["fields"].get_array().get(parts) != simdjson::SUCCESS || parts.size() != 1) return false;
    return node_of(parts.at(0).value_unsafe()).type == "String";
}
}  // namespace

void walker::sort_items(const walk_ctx& ctx, std::optional<element> list, bool bare_keys) {
    if (!list) return;
    array items;
    if (list->get_array().get(items) != simdjson::SUCCESS) {
        unsupported("a sort list pgsieve cannot read");
        return;
    }
    for (element item : items) {
        auto sb = open(item, "SortBy");
        if (!sb) continue;
        const int location = sb->location();
        if (const auto key = sb->take("node")) {
            const auto before = ctx.q >= 0 ? f_.queries[ctx.q].columns.size() : 0;
            expressions(ctx, *key);
            if (bare_keys && ctx.q >= 0 && bare_name(*key) && f_.queries[ctx.q].columns.size() == before + 1)
                f_.queries[ctx.q].columns.back().bare_sort_key = true;
        }
        // ORDER BY … USING op names its operator; otherwise the type's default ordering applies.
        if (const auto op = sb->take("useOp")) operator_names(op, location, false);
        else implicit_operator("<", location);
        finish(*sb, ctx);
    }
}

void walker::group_items(const walk_ctx& ctx, std::optional<element> list) {
    if (!list) return;
    array items;
    if (list->get_array().get(items) != simdjson::SUCCESS) {
        unsupported("a GROUP BY list pgsieve cannot read");
        return;
    }
    for (element item : items) {
        const auto t = node_of(item);
        if (t.null) continue;
        if (t.ok && t.type == "GroupingSet") {
            auto gs = open(item, "GroupingSet");
            if (!gs) continue;
            group_items(ctx, gs->take("content"));
            finish(*gs, ctx);
            continue;
        }
        const auto before = ctx.q >= 0 ? f_.queries[ctx.q].columns.size() : 0;
        expressions(ctx, item);
        if (ctx.q >= 0 && bare_name(item) && f_.queries[ctx.q].columns.size() == before + 1)
            f_.queries[ctx.q].columns.back().bare_sort_key = true;
        // Grouping compares with the type's equality (hashing) or ordering (sorting).
        implicit_operator("=", -1);
        implicit_operator("<", -1);
    }
}

void walker::window_def(const walk_ctx& ctx, node& w) {
    sort_items(ctx.in(clause::window), w.take("orderClause"), false);
    if (w.has("partitionClause")) implicit_operator("=", w.location());
}

int walker::range_function(int q, node& n, range_entry entry) {
    entry.type = range_entry::kind::function;
    entry.lateral = n.take_bool("lateral");
    entry.ordinality = n.take_bool("ordinality");
    n.take_bool("is_rowsfrom");  // ROWS FROM (…) or one function: the same entry
    alias(n, entry);
    // Column definition lists: AS (a int, …) for the whole item or per
    // function. The function's record is converted to those types, as a
    // cast would: each is a conversion (types), with no cast to guard.
    const auto definitions = [&](element list, std::vector<std::string>& names, std::vector<int>& types) {
        array items;
        if (list.get_array().get(items) != simdjson::SUCCESS) {
            unsupported("a column definition list pgsieve cannot read", entry.location);
            return;
        }
        for (element item : items) {
            auto def = open(item, "ColumnDef");
            if (!def) continue;
            names.emplace_back(def->take_string("colname"));
            int type = -1;
            if (const auto t = def->take("typeName")) {
                if (auto tn = open_message(*t, "TypeName")) {
                    walk_ctx local{q, clause::from};
                    const auto before = f_.types.size();
                    const bool is_array = tn->fields()["arrayBounds"].error() == simdjson::SUCCESS;
                    type_name(*tn, local);
                    finish(*tn, local);
                    if (f_.types.size() > before) {
                        f_.types.back().array = is_array;
                        type = static_cast<int>(f_.types.size()) - 1;
                    }
                }
            }
            if (type < 0) unsupported("a column definition pgsieve cannot read", entry.location);
            types.push_back(type);
            finish(*def, {q, clause::from});
        }
    };
    if (const auto functions = n.take("functions")) {
        array pairs;
        if (functions->get_array().get(pairs) != simdjson::SUCCESS) unsupported("RangeFunction.functions", entry.location);
        else {
            for (element pair : pairs) {
                // Each item is a List of (the call, its column definition list or {}).
                const auto list = node_of(pair);
                array items;
                if (!list.ok || list.type != "List" || list.fields.size() != 1 ||
                    list.fields["items"].get_array().get(items) != simdjson::SUCCESS || items.size() == 0 ||
                    items.size() > 2) {
                    unsupported("a FROM function pgsieve cannot read", entry.location);
                    continue;
                }
                const element call = items.at(0).value_unsafe();
                const auto call_node = node_of(call);
                const auto functions_before = f_.functions.size();
                entry.function_exprs.push_back(expression({q, clause::from}, call));
                function_ref fn;
                if (call_node.ok && call_node.type == "FuncCall" && f_.functions.size() > functions_before) {
                    f_.functions.back().in_from = true;
                    fn = f_.functions.back();
                }
                // Otherwise an expression used as a function (CAST(…), CURRENT_DATE): one column, fn.name empty.
                entry.functions.push_back(std::move(fn));
                entry.function_columns.emplace_back();
                entry.function_column_types.emplace_back();
                if (items.size() == 2 && !node_of(items.at(1).value_unsafe()).null) {
                    const auto defs = node_of(items.at(1).value_unsafe());
                    element inner;
                    if (defs.type != "List" || defs.fields["items"].get(inner) != simdjson::SUCCESS)
                        unsupported("a column definition list pgsieve cannot read", entry.location);
                    else
                        definitions(inner, entry.function_columns.back(), entry.function_column_types.back());
                }
            }
        }
    }
    if (const auto coldefs = n.take("coldeflist")) {
        if (entry.function_columns.size() != 1) unsupported("a column definition list for several functions", entry.location);
        else definitions(*coldefs, entry.function_columns.back(), entry.function_column_types.back());
    }
    finish(n, {q, clause::from});
    f_.queries[q].ranges.push_back(std::move(entry));
    return static_cast<int>(f_.queries[q].ranges.size()) - 1;
}

int walker::from_item(int q, element item) {
    const depth_guard guard(*this);
    if (!guard.ok) return -1;
    auto n = open(item, {});
    if (!n) return -1;
    range_entry entry;
    entry.location = n->location();
    const auto t = n->type();
    if (t == "RangeVar") {
        entry.type = range_entry::kind::relation;
        entry.relation = relation(*n);
        alias(*n, entry);
    } else if (t == "RangeSubselect") {
        entry.type = range_entry::kind::subquery;
        entry.lateral = n->take_bool("lateral");
        alias(*n, entry);
        if (const auto sub = n->take("subquery")) entry.subquery = query_node(*sub, q, entry.lateral);
        if (entry.subquery < 0 && !f_.data_modifying_cte) unsupported("a FROM sub-query pgsieve cannot read", entry.location);
    } else if (t == "RangeFunction") {
        return range_function(q, *n, std::move(entry));
    } else if (t == "JoinExpr") {
        entry.type = range_entry::kind::join;
        entry.natural = n->take_bool("isNatural");
        if (const auto cols = n->take("usingClause")) {
            if (auto names = string_list(*cols)) entry.using_columns = std::move(*names);
            else unsupported("JoinExpr.usingClause", entry.location);
        }
        if (const auto a = n->take("join_using_alias")) {
            if (auto ua = open_message(*a, "Alias")) {
                entry.using_alias = std::string(ua->take_string("aliasname"));
                finish(*ua, {});
            }
        }
        alias(*n, entry);
        if (const auto left = n->take("larg")) entry.left = from_item(q, *left);
        if (const auto right = n->take("rarg")) entry.right = from_item(q, *right);
        if (entry.left < 0 || entry.right < 0) unsupported("a join without both sides", entry.location);
        // USING and NATURAL compare the merged columns with =.
        if (entry.natural || !entry.using_columns.empty()) implicit_operator("=", entry.location);
        f_.queries[q].ranges.push_back(entry);  // the join is in scope for its own ON clause
        const int at = static_cast<int>(f_.queries[q].ranges.size()) - 1;
        if (const auto quals = n->take("quals")) expressions({q, clause::join}, *quals);
        finish(*n, {q, clause::join});
        return at;
    } else if (t == "RangeTableSample") {
        // TABLESAMPLE method(args): the built-in methods only (an extension's runs its own code).
        if (const auto method = n->take("method")) {
            const auto names = string_list(*method);
            if (!names || names->size() != 1 || ((*names)[0] != "bernoulli" && (*names)[0] != "system"))
                unsupported("a TABLESAMPLE method other than BERNOULLI or SYSTEM", entry.location);
        }
        int at = -1;
        if (const auto rel = n->take("relation")) at = from_item(q, *rel);
        finish(*n, {q, clause::from});
        return at;
    } else {
        unsupported(fmt::format("{} in FROM", t), entry.location);
        return -1;
    }
    finish(*n, {q, clause::from});
    f_.queries[q].ranges.push_back(std::move(entry));
    return static_cast<int>(f_.queries[q].ranges.size()) - 1;
}

int walker::select(node& s, int parent, bool lateral_scope) {
    const int q = new_query(parent, lateral_scope);
    if (const auto with = s.take("withClause")) with_clause(q, *with);
    if (s.take("intoClause")) f_.select_into = true;
    if (s.take("lockingClause")) f_.locking_clause = true;

    const auto op = s.take_string("op");
    const auto left = s.take("larg");
    const auto right = s.take("rarg");
    if (!op.empty() && op != "SETOP_NONE") {
        // larg/rarg are SelectStmt messages, written without a type wrapper.
        if (!left || !right) {
            unsupported("a set operation without both arms");
            return q;
        }
        for (const auto& [arm, slot] : {std::pair{*left, &query::set_left}, std::pair{*right, &query::set_right}}) {
            auto n = open_message(arm, "SelectStmt");
            if (!n) return q;
            const int sub = select(*n, q, false);
            finish(*n, {sub, clause::other});
            f_.queries[q].*slot = sub;
        }
        if (!s.take_bool("all")) {  // UNION / INTERSECT / EXCEPT without ALL remove duplicates
            implicit_operator("=", -1);
            implicit_operator("<", -1);
        }
    } else if (left || right) {
        unsupported("a set operation arm outside a set operation");
    }

    if (const auto values = s.take("valuesLists")) {
        array rows;
        if (values->get_array().get(rows) != simdjson::SUCCESS) unsupported("SelectStmt.valuesLists");
        else {
            int width = -1;
            for (element row : rows) {
                const auto list = node_of(row);
                array items;
                if (!list.ok || list.type != "List" || list.fields.size() != 1 ||
                    list.fields["items"].get_array().get(items) != simdjson::SUCCESS) {
                    unsupported("a VALUES row pgsieve cannot read");
                    continue;
                }
                if (width < 0) width = static_cast<int>(items.size());
                auto& cells = f_.queries[q].values_rows.emplace_back();
                for (element v : items) cells.push_back(expression({q, clause::values}, v));
            }
            f_.queries[q].values_width = std::max(width, 0);
        }
    }

    if (const auto from = s.take("fromClause")) {
        array items;
        if (from->get_array().get(items) != simdjson::SUCCESS) unsupported("SelectStmt.fromClause");
        else {
            for (element item : items) {
                const int at = from_item(q, item);
                if (at >= 0) f_.queries[q].from.push_back(at);
            }
        }
    }
    targets(q, s.take("targetList"), clause::target, true);
    group_items({q, clause::group_by}, s.take("groupClause"));
    if (const auto windows = s.take("windowClause")) {
        array list;
        if (windows->get_array().get(list) != simdjson::SUCCESS) unsupported("SelectStmt.windowClause");
        else {
            for (element item : list) {
                auto w = open(item, "WindowDef");
                if (!w) continue;
                window_def({q, clause::window}, *w);
                finish(*w, {q, clause::window});
            }
        }
    }
    // ORDER BY and DISTINCT ON may name output columns (bare names only).
    sort_items({q, clause::order_by}, s.take("sortClause"), true);
    if (const auto distinct = s.take("distinctClause")) {
        f_.queries[q].distinct = true;
        implicit_operator("=", -1);
        implicit_operator("<", -1);
        array keys;
        if (distinct->get_array().get(keys) != simdjson::SUCCESS) unsupported("SelectStmt.distinctClause");
        else {
            for (element key : keys) {  // plain DISTINCT is a list holding one empty node
                const auto before = f_.queries[q].columns.size();
                expressions({q, clause::distinct}, key);
                if (bare_name(key) && f_.queries[q].columns.size() == before + 1)
                    f_.queries[q].columns.back().bare_sort_key = true;
            }
        }
    }
    // WHERE, HAVING, LIMIT and OFFSET are walked by their role when the caller finishes the node.
    return q;
}

}  // namespace pgsieve::parser::detail
