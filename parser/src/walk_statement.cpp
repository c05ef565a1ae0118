// Statement kinds, and the statements that are more than a query: DML,
// EXPLAIN, SET/SHOW, transactions, PREPARE/EXECUTE, cursors, COPY.

#include "walker.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::parser::detail {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// PostgreSQL's CURSOR_OPT_HOLD (portalcmds.h): DECLARE … WITH HOLD.
constexpr std::int64_t cursor_opt_hold = 0x0020;

}  // namespace

void walker::statement(element stmt) {
    const auto t = node_of(stmt);
    if (!t.ok) {
        unsupported("an unreadable statement");
        return;
    }
    f_.node = std::string(t.type);
    const node_rule* rule = find_rule(t.type);
    if (t.type == "MergeStmt") f_.kind = statement_kind::merge;
    if (rule && rule->kind == node_kind::refused_statement) {
        f_.kind = statement_kind::other;  // refused whole by its kind: nothing inside can matter
        return;
    }
    auto n = open(stmt, {});
    if (!n) return;
    if (n->rule().kind != node_kind::statement) {
        unsupported(fmt::format("{} as a statement", n->type()), n->location());
        return;
    }
    walk_ctx ctx;
    (this->*(n->rule().handle))(*n, ctx);
    finish(*n, ctx);
}

void walker::raw_stmt(node& n, walk_ctx&) {
    if (const auto stmt = n.take("stmt")) statement(*stmt);
}

void walker::inner_statement(std::optional<element> stmt) {
    if (!stmt) {
        unsupported("a statement without its query");
        return;
    }
    statement_facts wrapped;
    walker(wrapped, depth_).statement(*stmt);
    f_.inner.push_back(std::move(wrapped));
}

void walker::select_stmt(node& n, walk_ctx& ctx) {
    f_.kind = statement_kind::select;
    f_.root = ctx.q = select(n, -1, false);
}

int walker::dml_root(node& s, statement_kind kind) {
    f_.kind = kind;
    const int q = new_query(-1, false);
    f_.root = q;
    if (const auto with = s.take("withClause")) with_clause(q, *with);
    if (const auto rel = s.take("relation")) {
        if (auto rv = open_message(*rel, "RangeVar")) {
            f_.target_relation = relation(*rv);
            range_entry alias_holder;
            alias(*rv, alias_holder);
            f_.target_alias = alias_holder.alias;
            if (!alias_holder.column_aliases.empty()) unsupported("column aliases on a written table", rv->location());
            finish(*rv, {q, clause::other});
        }
    }
    if (f_.target_relation.name.empty()) unsupported("a write without its table");
    return q;
}

void walker::set_clause(int q, std::optional<element> list, clause c) {
    each(list, "a SET list", [&](element item) {
        auto rt = open(item, "ResTarget");
        if (!rt) return;
        f_.written_columns.emplace_back(rt->take_string("name"));
        if (const auto val = rt->take("val")) expressions({q, c}, *val);
        finish(*rt, {q, c});
    });
}

void walker::insert_stmt(node& n, walk_ctx& ctx) {
    const int q = ctx.q = dml_root(n, statement_kind::insert);
    each(n.take("cols"), "InsertStmt.cols", [&](element item) {
        auto rt = open(item, "ResTarget");
        if (!rt) return;
        f_.written_columns.emplace_back(rt->take_string("name"));
        finish(*rt, {q, clause::insert_columns});  // subscripts and field names
    });
    if (const auto source = n.take("selectStmt")) {
        if (query_node(*source, q, false) < 0 && !f_.data_modifying_cte) unsupported("an INSERT source pgsieve cannot read");
    }
    if (const auto conflict = n.take("onConflictClause")) {
        if (auto oc = open_message(*conflict, "OnConflictClause")) {
            f_.on_conflict_update = oc->take_string("action") == "ONCONFLICT_UPDATE";
            if (const auto infer = oc->take("infer")) {
                if (auto ic = open_message(*infer, "InferClause")) {
                    if (const auto elems = ic->take("indexElems")) {
                        each(elems, "a list", [&](element e) {
                            auto ie = open(e, "IndexElem");
                            if (!ie) return;
                            // The conflict target's columns are read, as PostgreSQL checks them.
                            if (const auto name = ie->take_string("name"); !name.empty()) {
                                parser::column_ref ref;
                                ref.fields = {std::string(name)};
                                ref.where = clause::on_conflict;
                                ref.location = oc->location();
                                f_.queries[q].columns.push_back(std::move(ref));
                            }
                            finish(*ie, {q, clause::on_conflict});
                        });
                    }
                    finish(*ic, {q, clause::on_conflict});
                }
            }
            set_clause(q, oc->take("targetList"), clause::on_conflict);
            finish(*oc, {q, clause::on_conflict});
        }
    }
    targets(q, n.take("returningList"), clause::returning, false);
}

void walker::update_stmt(node& n, walk_ctx& ctx) {
    const int q = ctx.q = dml_root(n, statement_kind::update);
    if (const auto from = n.take("fromClause")) {
        each(from, "a list", [&](element item) {
            const int at = from_item(q, item);
            if (at >= 0) f_.queries[q].from.push_back(at);
        });
    }
    set_clause(q, n.take("targetList"), clause::update_set);
    targets(q, n.take("returningList"), clause::returning, false);
}

void walker::delete_stmt(node& n, walk_ctx& ctx) {
    const int q = ctx.q = dml_root(n, statement_kind::delete_);
    if (const auto from = n.take("usingClause")) {
        each(from, "a list", [&](element item) {
            const int at = from_item(q, item);
            if (at >= 0) f_.queries[q].from.push_back(at);
        });
    }
    targets(q, n.take("returningList"), clause::returning, false);
}

void walker::explain_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::explain;
    if (const auto options = n.take("options")) {
        each(options, "a list", [&](element o) {
            auto def = open(o, "DefElem");
            if (!def) return;
            if (def->take_string("defname") == "analyze") {
                // EXPLAIN (ANALYZE false) does not run the statement.
                f_.explain_analyze = true;
                if (const auto arg = def->take("arg")) {
                    const auto text = lower(constant_text(*arg).value_or("true"));
                    if (text == "false" || text == "off" || text == "0" || text == "no") f_.explain_analyze = false;
                }
            }
            finish(*def, {});
        });
    }
    inner_statement(n.take("query"));
}

void walker::variable_show_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::show;
    f_.parameter = lower(n.take_string("name"));
}

namespace {
// BEGIN/SET TRANSACTION options: READ WRITE is transaction_read_only = 0.
bool asks_read_write(std::string_view defname, const std::optional<std::string>& value) {
    return defname == "transaction_read_only" && value && (*value == "0" || *value == "false");
}
}  // namespace

void walker::variable_set_stmt(node& n, walk_ctx&) {
    const auto kind = n.take_string("kind");
    const auto name = lower(n.take_string("name"));
    const auto args = n.take("args");
    if (kind == "VAR_SET_MULTI" && (name == "transaction" || name == "session characteristics")) {
        f_.kind = statement_kind::set_transaction;
        each(args, "VariableSetStmt.args", [&](element arg) {
            auto def = open(arg, "DefElem");
            if (!def) return;
            const auto defname = def->take_string("defname");
            const auto a = def->take("arg");
            if (a && asks_read_write(defname, constant_text(*a))) f_.read_write = true;
            if (a) expressions({}, *a);
            finish(*def, {});
        });
        return;
    }
    if (kind == "VAR_RESET" || kind == "VAR_RESET_ALL") {
        f_.kind = statement_kind::reset;
        f_.parameter = kind == "VAR_RESET_ALL" ? "all" : name;
        return;
    }
    f_.kind = statement_kind::set;
    f_.parameter = name;
    f_.set_local = n.take_bool("is_local");
    if (kind != "VAR_SET_VALUE") f_.set_value_unknown = true;
    each(args, "VariableSetStmt.args", [&](element arg) {
        // SET x = '1s'::interval and the like: the constant inside the cast.
        auto v = node_of(arg);
        element value = arg;
        if (v.ok && v.type == "TypeCast" && v.fields["arg"].get(value) != simdjson::SUCCESS) value = arg;
        const auto text = node_of(value).type == "A_Const" ? constant_text(value) : std::nullopt;
        if (text) f_.parameter_values.push_back(*text);
        else f_.set_value_unknown = true;
        expressions({}, arg);
    });
}

void walker::transaction_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::transaction;
    static constexpr std::pair<std::string_view, transaction_kind> kinds[] = {
        {"TRANS_STMT_BEGIN", transaction_kind::begin},
        {"TRANS_STMT_START", transaction_kind::start},
        {"TRANS_STMT_COMMIT", transaction_kind::commit},
        {"TRANS_STMT_ROLLBACK", transaction_kind::rollback},
        {"TRANS_STMT_SAVEPOINT", transaction_kind::savepoint},
        {"TRANS_STMT_RELEASE", transaction_kind::release},
        {"TRANS_STMT_ROLLBACK_TO", transaction_kind::rollback_to},
        {"TRANS_STMT_PREPARE", transaction_kind::prepare},
        {"TRANS_STMT_COMMIT_PREPARED", transaction_kind::commit_prepared},
        {"TRANS_STMT_ROLLBACK_PREPARED", transaction_kind::rollback_prepared}};
    const auto kind = n.take_string("kind");
    for (const auto& [k, v] : kinds) {
        if (kind == k) f_.transaction = v;
    }
    if (f_.transaction == transaction_kind::none) unsupported(fmt::format("the transaction command {}", kind));
    if (const auto options = n.take("options")) {
        each(options, "a list", [&](element o) {
            auto def = open(o, "DefElem");
            if (!def) return;
            const auto defname = def->take_string("defname");
            const auto a = def->take("arg");
            if (a && asks_read_write(defname, constant_text(*a))) f_.read_write = true;
            if (a) expressions({}, *a);
            finish(*def, {});
        });
    }
}

void walker::prepare_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::prepare;
    f_.object_name = std::string(n.take_string("name"));
    if (const auto types = n.take("argtypes")) {
        // Binding a parameter converts it to its type: a domain's checks run.
        each(types, "a list", [&](element t) {
            auto tn = open(t, "TypeName");
            if (!tn) return;
            walk_ctx none;
            type_name(*tn, none);
            finish(*tn, none);
        });
    }
    inner_statement(n.take("query"));
}

void walker::execute_stmt(node& n, walk_ctx& ctx) {
    f_.kind = statement_kind::execute;
    f_.object_name = std::string(n.take_string("name"));
    f_.root = ctx.q = new_query(-1, false);  // its parameters are expressions
}

void walker::deallocate_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::deallocate;
    f_.object_name = std::string(n.take_string("name"));
}

void walker::declare_cursor_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::declare_cursor;
    f_.object_name = std::string(n.take_string("portalname"));
    f_.cursor_with_hold = (n.take_int("options") & cursor_opt_hold) != 0;
    inner_statement(n.take("query"));
}

void walker::fetch_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::fetch;
    f_.object_name = std::string(n.take_string("portalname"));
}

void walker::close_portal_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::close_cursor;
    f_.object_name = std::string(n.take_string("portalname"));
}

void walker::discard_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::discard;
    const auto target = n.take_string("target");
    f_.discard = target == "DISCARD_ALL"         ? discard_kind::all
                 : target == "DISCARD_PLANS"     ? discard_kind::plans
                 : target == "DISCARD_SEQUENCES" ? discard_kind::sequences
                 : target == "DISCARD_TEMP"      ? discard_kind::temp
                                                 : discard_kind::none;
    if (f_.discard == discard_kind::none) unsupported(fmt::format("DISCARD {}", target));
}

void walker::copy_stmt(node& n, walk_ctx&) {
    f_.kind = statement_kind::copy;
    f_.copy_from = n.take_bool("is_from");
    f_.copy_to_file = n.take_bool("is_program") || !n.take_string("filename").empty();
    if (const auto rel = n.take("relation")) {
        if (auto rv = open_message(*rel, "RangeVar")) {
            f_.target_relation = relation(*rv);
            finish(*rv, {});
        }
        if (const auto cols = n.take("attlist")) {
            // COPY t (cols) TO: the columns read.
            if (auto names = string_list(*cols)) f_.written_columns = std::move(*names);
            else unsupported("CopyStmt.attlist");
        }
    }
    if (const auto options = n.take("options")) {
        each(options, "a list", [&](element o) {
            if (auto def = open(o, "DefElem")) finish(*def, {});
        });
    }
    if (n.take("whereClause")) unsupported("COPY … WHERE");
    if (const auto query = n.take("query")) inner_statement(query);
}

}  // namespace pgsieve::parser::detail
