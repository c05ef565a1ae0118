// Query levels: SELECT (and VALUES, set operations), their FROM entries,
// CTEs and output columns.

#include "walker.hpp"

namespace pgsieve::parser::detail {

int walker::new_query(int parent, bool lateral_scope) {
    query q;
    q.parent = parent;
    q.lateral_scope = lateral_scope;
    f_.queries.push_back(std::move(q));
    return static_cast<int>(f_.queries.size()) - 1;
}

relation_ref walker::relation(object range_var) {
    relation_ref r;
    r.schema = std::string(string_field(range_var, "schemaname"));
    r.name = std::string(string_field(range_var, "relname"));
    r.location = int_field(range_var, "location");
    // catalog.schema.table names another database: PostgreSQL refuses
    // cross-database references, and so do we.
    if (!string_field(range_var, "catalogname").empty()) unknown("cross-database reference");
    f_.relations.push_back(r);
    return r;
}

int walker::query_node(element n, int parent, bool lateral_scope) {
    const auto t = node_of(n);
    if (t.type == "SelectStmt") return select(t.fields, parent, lateral_scope);
    // INSERT/UPDATE/DELETE inside WITH: the statement writes.
    if (t.type == "InsertStmt" || t.type == "UpdateStmt" || t.type == "DeleteStmt" || t.type == "MergeStmt") {
        f_.data_modifying_cte = true;
        return -1;
    }
    if (!t.null) unknown(t.ok ? t.type : std::string_view("an unreadable query node"));
    return -1;
}

void walker::with_clause(int q, object with) {
    f_.queries[q].recursive = bool_field(with, "recursive");
    array ctes;
    if (with["ctes"].get_array().get(ctes) != simdjson::SUCCESS) return;
    for (element item : ctes) {
        const auto c = node_of(item);
        if (c.type != "CommonTableExpr") {
            unknown(c.type);
            continue;
        }
        cte entry;
        entry.name = std::string(string_field(c.fields, "ctename"));
        entry.column_aliases = string_list(c.fields, "aliascolnames");
        // Registered before its body so a recursive CTE sees itself.
        f_.queries[q].ctes.push_back(entry);
        const auto at = f_.queries[q].ctes.size() - 1;
        element body;
        if (c.fields["ctequery"].get(body) == simdjson::SUCCESS) {
            const int sub = query_node(body, q, false);
            f_.queries[q].ctes[at].query = sub;
        }
        if (has(c.fields, "search_clause") || has(c.fields, "cycle_clause")) {
            // SEARCH/CYCLE name columns of the CTE; their columns are read.
            object clause_fields;
            if (c.fields["search_clause"].get_object().get(clause_fields) == simdjson::SUCCESS) {
                for (auto& name : string_list(clause_fields, "search_col_list")) {
                    column_ref ref;
                    ref.fields = {name};
                    f_.queries[q].columns.push_back(ref);
                }
            }
        }
    }
}

void walker::targets(int q, object s, std::string_view key, clause c, bool record_outputs) {
    array list;
    if (s[key].get_array().get(list) != simdjson::SUCCESS) return;
    for (element item : list) {
        const auto rt = node_of(item);
        if (rt.type != "ResTarget") {
            unknown(rt.type);
            continue;
        }
        element val;
        const bool has_val = rt.fields["val"].get(val) == simdjson::SUCCESS;
        if (has_val) expression(q, val, c);
        if (!record_outputs || !has_val) continue;
        target out;
        const auto name = string_field(rt.fields, "name");
        const auto v = node_of(val);
        if (v.type == "ColumnRef") {
            array fields;
            if (v.fields["fields"].get_array().get(fields) == simdjson::SUCCESS) {
                std::vector<std::string> qualifier;
                bool star = false;
                for (element part : fields) {
                    const auto p = node_of(part);
                    if (p.type == "A_Star") star = true;
                    else qualifier.emplace_back(string_field(p.fields, "sval"));
                }
                if (star && name.empty()) {
                    out.star = true;
                    out.qualifier = std::move(qualifier);
                }
            }
        }
        if (!out.star) out.name = name.empty() ? figure_column_name(val) : std::string(name);
        f_.queries[q].targets.push_back(std::move(out));
    }
}

int walker::from_item(int q, element item) {
    const auto n = node_of(item);
    range_entry entry;
    object alias;
    if (n.ok && n.fields["alias"].get_object().get(alias) == simdjson::SUCCESS) {
        entry.alias = std::string(string_field(alias, "aliasname"));
        entry.column_aliases = string_list(alias, "colnames");
    }
    if (n.type == "RangeVar") {
        entry.type = range_entry::kind::relation;
        entry.relation = relation(n.fields);
    } else if (n.type == "RangeSubselect") {
        entry.type = range_entry::kind::subquery;
        entry.lateral = bool_field(n.fields, "lateral");
        element sub;
        if (n.fields["subquery"].get(sub) == simdjson::SUCCESS) entry.subquery = query_node(sub, q, entry.lateral);
    } else if (n.type == "RangeFunction") {
        entry.type = range_entry::kind::function;
        entry.lateral = bool_field(n.fields, "lateral");
        array functions;
        if (n.fields["functions"].get_array().get(functions) == simdjson::SUCCESS) {
            for (element pair : functions) {
                const auto list = node_of(pair);
                array items;
                if (list.type != "List" || list.fields["items"].get_array().get(items) != simdjson::SUCCESS) continue;
                for (element fn : items) {
                    const auto call = node_of(fn);
                    if (call.type == "FuncCall") {
                        function_call(q, call.fields, clause::from, true);
                        entry.functions.push_back(f_.functions.back());
                    } else if (call.ok && call.type != "List") {
                        // Other set-returning expressions in FROM (e.g. a cast): not analysed.
                        unknown(call.type);
                    }
                }
            }
        }
    } else if (n.type == "JoinExpr") {
        entry.type = range_entry::kind::join;
        entry.natural = bool_field(n.fields, "isNatural");
        entry.using_columns = string_list(n.fields, "usingClause");
        element left, right;
        if (n.fields["larg"].get(left) == simdjson::SUCCESS) entry.left = from_item(q, left);
        if (n.fields["rarg"].get(right) == simdjson::SUCCESS) entry.right = from_item(q, right);
        object using_alias;
        if (n.fields["join_using_alias"].get_object().get(using_alias) == simdjson::SUCCESS)
            unknown("JOIN USING alias");
        element quals;
        if (n.fields["quals"].get(quals) == simdjson::SUCCESS) {
            f_.queries[q].ranges.push_back(entry);  // the join is in scope for its own ON clause
            const int at = static_cast<int>(f_.queries[q].ranges.size()) - 1;
            expression(q, quals, clause::join);
            return at;
        }
    } else if (n.type == "RangeTableSample") {
        element rel;
        if (n.fields["relation"].get(rel) == simdjson::SUCCESS) {
            const int at = from_item(q, rel);
            expressions(q, n.fields, "args", clause::from);
            expressions(q, n.fields, "repeatable", clause::from);
            return at;
        }
        unknown(n.type);
        return -1;
    } else {
        if (!n.null) unknown(n.ok ? n.type : std::string_view("an unreadable FROM item"));
        return -1;
    }
    f_.queries[q].ranges.push_back(std::move(entry));
    return static_cast<int>(f_.queries[q].ranges.size()) - 1;
}

int walker::select(object s, int parent, bool lateral_scope) {
    const int q = new_query(parent, lateral_scope);
    object with;
    if (s["withClause"].get_object().get(with) == simdjson::SUCCESS) with_clause(q, with);
    if (has(s, "intoClause")) f_.select_into = true;
    if (has(s, "lockingClause")) f_.locking_clause = true;

    const auto op = string_field(s, "op");
    if (!op.empty() && op != "SETOP_NONE") {
        // larg/rarg are SelectStmt pointers, which libpg_query writes
        // without the {"SelectStmt": …} wrapper.
        object left, right;
        if (s["larg"].get_object().get(left) != simdjson::SUCCESS ||
            s["rarg"].get_object().get(right) != simdjson::SUCCESS) {
            unknown("a set operation without both arms");
            return q;
        }
        f_.queries[q].set_left = select(left, q, false);
        f_.queries[q].set_right = select(right, q, false);
        // ORDER BY / LIMIT of a set operation name its output columns.
        expressions(q, s, "sortClause", clause::order_by);
        expressions(q, s, "limitCount", clause::limit);
        expressions(q, s, "limitOffset", clause::limit);
        return q;
    }

    array values;
    if (s["valuesLists"].get_array().get(values) == simdjson::SUCCESS) {
        int width = 0;
        for (element row : values) {
            const auto list = node_of(row);
            array items;
            if (list.type == "List" && list.fields["items"].get_array().get(items) == simdjson::SUCCESS) {
                width = static_cast<int>(items.size());
                for (element v : items) expression(q, v, clause::values);
            }
        }
        f_.queries[q].values_width = width;
        return q;
    }

    array from;
    if (s["fromClause"].get_array().get(from) == simdjson::SUCCESS) {
        for (element item : from) {
            const int at = from_item(q, item);
            if (at >= 0) f_.queries[q].from.push_back(at);
        }
    }
    targets(q, s, "targetList", clause::target, true);
    expressions(q, s, "whereClause", clause::where);
    expressions(q, s, "groupClause", clause::group_by);
    expressions(q, s, "havingClause", clause::having);
    expressions(q, s, "sortClause", clause::order_by);
    expressions(q, s, "distinctClause", clause::distinct);
    expressions(q, s, "limitCount", clause::limit);
    expressions(q, s, "limitOffset", clause::limit);
    array windows;
    if (s["windowClause"].get_array().get(windows) == simdjson::SUCCESS) {
        for (element w : windows) {
            const auto def = node_of(w);
            expressions(q, def.fields, "partitionClause", clause::window);
            expressions(q, def.fields, "orderClause", clause::window);
            expressions(q, def.fields, "startOffset", clause::window);
            expressions(q, def.fields, "endOffset", clause::window);
        }
    }
    return q;
}

}  // namespace pgsieve::parser::detail
