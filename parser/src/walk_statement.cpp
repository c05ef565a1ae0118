// Statement kinds, and the statements that are more than a query: DML,
// EXPLAIN, SET/SHOW, transactions, PREPARE/EXECUTE, cursors, COPY.

#include "walker.hpp"

#include <algorithm>

namespace pgsieve::parser::detail {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// BEGIN/SET TRANSACTION options: READ WRITE is transaction_read_only = 0.
bool asks_read_write(object o, std::string_view key) {
    array options;
    if (o[key].get_array().get(options) != simdjson::SUCCESS) return false;
    for (element item : options) {
        const auto def = node_of(item);
        if (def.type != "DefElem" || string_field(def.fields, "defname") != "transaction_read_only") continue;
        element arg;
        if (def.fields["arg"].get(arg) != simdjson::SUCCESS) continue;
        const auto c = node_of(arg);
        object ival;
        if (c.fields["ival"].get_object().get(ival) == simdjson::SUCCESS && int_field(ival, "ival", 0) == 0) return true;
        if (!has(c.fields, "ival")) return true;  // ival 0 is omitted from the JSON
    }
    return false;
}

}  // namespace

int walker::dml_root(object s, statement_kind kind) {
    f_.kind = kind;
    const int q = new_query(-1, false);
    f_.root = q;
    object with;
    if (s["withClause"].get_object().get(with) == simdjson::SUCCESS) with_clause(q, with);
    object rel;
    if (s["relation"].get_object().get(rel) == simdjson::SUCCESS) {
        f_.target_relation = relation(rel);
        object alias;
        if (rel["alias"].get_object().get(alias) == simdjson::SUCCESS) f_.target_alias = string_field(alias, "aliasname");
    }
    return q;
}

void walker::insert(object s) {
    const int q = dml_root(s, statement_kind::insert);
    array cols;
    if (s["cols"].get_array().get(cols) == simdjson::SUCCESS) {
        for (element c : cols) {
            const auto rt = node_of(c);
            f_.written_columns.emplace_back(string_field(rt.fields, "name"));
            expressions(q, rt.fields, "indirection", clause::insert_columns);
        }
    }
    element source;
    if (s["selectStmt"].get(source) == simdjson::SUCCESS) query_node(source, q, false);
    object conflict;
    if (s["onConflictClause"].get_object().get(conflict) == simdjson::SUCCESS) {
        object infer;
        if (conflict["infer"].get_object().get(infer) == simdjson::SUCCESS) {
            array elems;
            if (infer["indexElems"].get_array().get(elems) == simdjson::SUCCESS) {
                for (element e : elems) {
                    const auto ie = node_of(e);
                    const auto name = string_field(ie.fields, "name");
                    if (!name.empty()) {
                        column_ref ref;
                        ref.fields = {std::string(name)};
                        ref.where = clause::on_conflict;
                        f_.queries[q].columns.push_back(ref);
                    }
                    expressions(q, ie.fields, "expr", clause::on_conflict);
                }
            }
            expressions(q, infer, "whereClause", clause::on_conflict);
        }
        array set;
        if (conflict["targetList"].get_array().get(set) == simdjson::SUCCESS) {
            for (element item : set) {
                const auto rt = node_of(item);
                f_.written_columns.emplace_back(string_field(rt.fields, "name"));
                expressions(q, rt.fields, "val", clause::on_conflict);
            }
        }
        expressions(q, conflict, "whereClause", clause::on_conflict);
    }
    targets(q, s, "returningList", clause::returning, false);
}

void walker::update(object s) {
    const int q = dml_root(s, statement_kind::update);
    array from;
    if (s["fromClause"].get_array().get(from) == simdjson::SUCCESS) {
        for (element item : from) {
            const int at = from_item(q, item);
            if (at >= 0) f_.queries[q].from.push_back(at);
        }
    }
    array set;
    if (s["targetList"].get_array().get(set) == simdjson::SUCCESS) {
        for (element item : set) {
            const auto rt = node_of(item);
            f_.written_columns.emplace_back(string_field(rt.fields, "name"));
            expressions(q, rt.fields, "val", clause::update_set);
            expressions(q, rt.fields, "indirection", clause::update_set);
        }
    }
    expressions(q, s, "whereClause", clause::where);
    targets(q, s, "returningList", clause::returning, false);
}

void walker::delete_(object s) {
    const int q = dml_root(s, statement_kind::delete_);
    array using_list;
    if (s["usingClause"].get_array().get(using_list) == simdjson::SUCCESS) {
        for (element item : using_list) {
            const int at = from_item(q, item);
            if (at >= 0) f_.queries[q].from.push_back(at);
        }
    }
    expressions(q, s, "whereClause", clause::where);
    targets(q, s, "returningList", clause::returning, false);
}

void walker::statement(element stmt) {
    const auto n = node_of(stmt);
    f_.node = std::string(n.type);
    const auto& t = n.type;
    const object s = n.fields;

    if (t == "SelectStmt") {
        f_.kind = statement_kind::select;
        f_.root = select(s, -1, false);
    } else if (t == "InsertStmt") {
        insert(s);
    } else if (t == "UpdateStmt") {
        update(s);
    } else if (t == "DeleteStmt") {
        delete_(s);
    } else if (t == "MergeStmt") {
        // MERGE is a write kind; its analysis is not built yet, so it is
        // recorded as not understood and refused.
        f_.kind = statement_kind::merge;
        unknown("MergeStmt");
    } else if (t == "ExplainStmt") {
        f_.kind = statement_kind::explain;
        array options;
        if (s["options"].get_array().get(options) == simdjson::SUCCESS) {
            for (element o : options) {
                const auto def = node_of(o);
                if (string_field(def.fields, "defname") != "analyze") continue;
                // EXPLAIN (ANALYZE false) does not run the statement.
                element arg;
                f_.explain_analyze = true;
                if (def.fields["arg"].get(arg) == simdjson::SUCCESS) {
                    const auto v = node_of(arg);
                    const auto text = lower(string_field(v.fields, "sval"));
                    if (text == "false" || text == "off" || text == "0" || text == "no") f_.explain_analyze = false;
                    object boolval;
                    if (v.type == "Boolean" && !bool_field(v.fields, "boolval")) f_.explain_analyze = false;
                    if (v.type == "Integer" && int_field(v.fields, "ival", 0) == 0) f_.explain_analyze = false;
                }
            }
        }
        element inner;
        if (s["query"].get(inner) == simdjson::SUCCESS) {
            statement_facts wrapped;
            walker(wrapped).statement(inner);
            f_.inner.push_back(std::move(wrapped));
        }
    } else if (t == "VariableShowStmt") {
        f_.kind = statement_kind::show;
        f_.parameter = lower(string_field(s, "name"));
    } else if (t == "VariableSetStmt") {
        const auto kind = string_field(s, "kind");
        const auto name = lower(string_field(s, "name"));
        if (kind == "VAR_SET_MULTI" && (name == "transaction" || name == "session characteristics")) {
            f_.kind = statement_kind::set_transaction;
            f_.read_write = asks_read_write(s, "args");
        } else if (kind == "VAR_RESET" || kind == "VAR_RESET_ALL") {
            f_.kind = statement_kind::reset;
            f_.parameter = kind == "VAR_RESET_ALL" ? "all" : name;
        } else {
            f_.kind = statement_kind::set;
            f_.parameter = name;
            f_.set_local = bool_field(s, "is_local");
            if (kind != "VAR_SET_VALUE") f_.set_value_unknown = true;
            array args;
            if (s["args"].get_array().get(args) == simdjson::SUCCESS) {
                for (element arg : args) {
                    auto v = node_of(arg);
                    if (v.type == "TypeCast") {  // SET x = '1s'::interval and the like
                        element inner;
                        if (v.fields["arg"].get(inner) == simdjson::SUCCESS) v = node_of(inner);
                    }
                    if (v.type != "A_Const") {
                        f_.set_value_unknown = true;
                        continue;
                    }
                    object value;
                    if (v.fields["sval"].get_object().get(value) == simdjson::SUCCESS)
                        f_.parameter_values.emplace_back(string_field(value, "sval"));
                    else if (v.fields["ival"].get_object().get(value) == simdjson::SUCCESS)
                        f_.parameter_values.push_back(std::to_string(int_field(value, "ival", 0)));
                    else if (v.fields["fval"].get_object().get(value) == simdjson::SUCCESS)
                        f_.parameter_values.emplace_back(string_field(value, "fval"));
                    else if (v.fields["boolval"].get_object().get(value) == simdjson::SUCCESS)
                        f_.parameter_values.emplace_back(bool_field(value, "boolval") ? "true" : "false");
                    else
                        f_.set_value_unknown = true;
                }
            }
        }
    } else if (t == "TransactionStmt") {
        f_.kind = statement_kind::transaction;
        static const std::pair<std::string_view, std::string_view> kinds[] = {
            {"TRANS_STMT_BEGIN", "begin"}, {"TRANS_STMT_START", "start"}, {"TRANS_STMT_COMMIT", "commit"},
            {"TRANS_STMT_ROLLBACK", "rollback"}, {"TRANS_STMT_SAVEPOINT", "savepoint"},
            {"TRANS_STMT_RELEASE", "release"}, {"TRANS_STMT_ROLLBACK_TO", "rollback_to"},
            {"TRANS_STMT_PREPARE", "prepare"}, {"TRANS_STMT_COMMIT_PREPARED", "commit_prepared"},
            {"TRANS_STMT_ROLLBACK_PREPARED", "rollback_prepared"}};
        const auto kind = string_field(s, "kind");
        for (const auto& [k, v] : kinds) {
            if (kind == k) f_.transaction_kind = v;
        }
        f_.read_write = asks_read_write(s, "options");
    } else if (t == "PrepareStmt") {
        f_.kind = statement_kind::prepare;
        f_.object_name = string_field(s, "name");
        element inner;
        if (s["query"].get(inner) == simdjson::SUCCESS) {
            statement_facts wrapped;
            walker(wrapped).statement(inner);
            f_.inner.push_back(std::move(wrapped));
        }
    } else if (t == "ExecuteStmt") {
        f_.kind = statement_kind::execute;
        f_.object_name = string_field(s, "name");
        const int q = new_query(-1, false);
        f_.root = q;
        expressions(q, s, "params", clause::function_argument);
    } else if (t == "DeallocateStmt") {
        f_.kind = statement_kind::deallocate;
        f_.object_name = string_field(s, "name");
    } else if (t == "DeclareCursorStmt") {
        f_.kind = statement_kind::declare_cursor;
        f_.object_name = string_field(s, "portalname");
        element inner;
        if (s["query"].get(inner) == simdjson::SUCCESS) {
            statement_facts wrapped;
            walker(wrapped).statement(inner);
            f_.inner.push_back(std::move(wrapped));
        }
    } else if (t == "FetchStmt") {
        f_.kind = statement_kind::fetch;
        f_.object_name = string_field(s, "portalname");
    } else if (t == "ClosePortalStmt") {
        f_.kind = statement_kind::close_cursor;
        f_.object_name = string_field(s, "portalname");
    } else if (t == "DiscardStmt") {
        f_.kind = statement_kind::discard;
        const auto target = string_field(s, "target");
        f_.discard_kind = target == "DISCARD_ALL" ? "all"
                          : target == "DISCARD_PLANS" ? "plans"
                          : target == "DISCARD_SEQUENCES" ? "sequences"
                                                          : "temp";
    } else if (t == "CopyStmt") {
        f_.kind = statement_kind::copy;
        f_.copy_from = bool_field(s, "is_from");
        f_.copy_to_file = bool_field(s, "is_program") || !string_field(s, "filename").empty();
        object rel;
        if (s["relation"].get_object().get(rel) == simdjson::SUCCESS) {
            f_.target_relation = relation(rel);
            f_.written_columns = string_list(s, "attlist");  // for COPY TO: the columns read
        }
        element inner;
        if (s["query"].get(inner) == simdjson::SUCCESS) {
            statement_facts wrapped;
            walker(wrapped).statement(inner);
            f_.inner.push_back(std::move(wrapped));
        }
        if (has(s, "whereClause")) unknown("COPY … WHERE");
    } else {
        f_.kind = statement_kind::other;
    }
}

}  // namespace pgsieve::parser::detail
