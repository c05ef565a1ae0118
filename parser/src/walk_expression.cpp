// Expressions: every column reference, function call, operator and
// sub-query they contain, recorded in the query they belong to.

#include "walker.hpp"

#include <array>

namespace pgsieve::parser::detail {

typed_node node_of(element e) {
    typed_node t;
    object o;
    if (e.is_null()) {
        t.null = true;
        return t;
    }
    if (e.get_object().get(o) != simdjson::SUCCESS) return t;
    if (o.size() == 0) {
        t.null = true;
        return t;
    }
    for (auto [key, value] : o) {
        object fields;
        if (value.get_object().get(fields) != simdjson::SUCCESS) return t;
        t.type = key;
        t.fields = fields;
        t.ok = true;
        return t;
    }
    return t;
}

std::string_view string_field(object o, std::string_view key) {
    std::string_view v;
    if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
    return v;
}

bool bool_field(object o, std::string_view key) {
    bool v = false;
    if (o[key].get_bool().get(v) != simdjson::SUCCESS) return false;
    return v;
}

int int_field(object o, std::string_view key, int fallback) {
    int64_t v = 0;
    if (o[key].get_int64().get(v) != simdjson::SUCCESS) return fallback;
    return static_cast<int>(v);
}

bool has(object o, std::string_view key) {
    element e;
    return o[key].get(e) == simdjson::SUCCESS;
}

std::vector<std::string> string_list(object o, std::string_view key) {
    std::vector<std::string> out;
    array items;
    if (o[key].get_array().get(items) != simdjson::SUCCESS) return out;
    for (element item : items) {
        const auto n = node_of(item);
        if (n.ok && n.type == "String") out.emplace_back(string_field(n.fields, "sval"));
    }
    return out;
}

namespace {

// Names of the fields of a ColumnRef; sets star for a trailing A_Star.
column_ref column_reference(object fields, clause c) {
    column_ref ref;
    ref.where = c;
    ref.location = int_field(fields, "location");
    array parts;
    if (fields["fields"].get_array().get(parts) == simdjson::SUCCESS) {
        for (element part : parts) {
            const auto n = node_of(part);
            if (n.type == "String") ref.fields.emplace_back(string_field(n.fields, "sval"));
            else if (n.type == "A_Star") ref.star = true;
        }
    }
    return ref;
}

}  // namespace

void walker::expressions(int q, object o, std::string_view key, clause c) {
    element e;
    if (o[key].get(e) != simdjson::SUCCESS) return;
    array items;
    if (e.get_array().get(items) == simdjson::SUCCESS) {
        for (element item : items) expression(q, item, c);
    } else {
        expression(q, e, c);
    }
}

void walker::function_call(int q, object call, clause c, bool in_from) {
    function_ref fn;
    fn.name = string_list(call, "funcname");
    fn.location = int_field(call, "location");
    fn.in_from = in_from;
    f_.functions.push_back(fn);
    expressions(q, call, "args", clause::function_argument);
    expressions(q, call, "agg_order", clause::order_by);
    expressions(q, call, "agg_filter", clause::filter);
    element over;
    if (call["over"].get(over) == simdjson::SUCCESS) {
        object w;
        if (over.get_object().get(w) == simdjson::SUCCESS) {
            // A WindowDef directly (not wrapped in a typed node).
            expressions(q, w, "partitionClause", clause::window);
            expressions(q, w, "orderClause", clause::window);
            expressions(q, w, "startOffset", clause::window);
            expressions(q, w, "endOffset", clause::window);
        }
    }
    (void)c;
}

namespace {

// Nodes that only hold expressions, and the fields of each that are walked.
// A type neither here nor handled in expression() is unknown, and refused.
struct container {
    std::string_view type;
    std::array<std::string_view, 3> fields;
};
constexpr container containers[] = {
    {"A_Indices", {"lidx", "uidx"}},
    {"BoolExpr", {"args", "named_args"}},
    {"CoalesceExpr", {"args", "named_args"}},
    {"MinMaxExpr", {"args", "named_args"}},
    {"RowExpr", {"args", "named_args"}},
    {"GroupingFunc", {"args", "named_args"}},
    {"XmlExpr", {"args", "named_args"}},
    {"CaseExpr", {"arg", "args", "defresult"}},
    {"CaseWhen", {"expr", "result"}},
    {"NullTest", {"arg"}},
    {"BooleanTest", {"arg"}},
    {"CollateClause", {"arg"}},
    {"NamedArgExpr", {"arg"}},
    {"A_ArrayExpr", {"elements"}},
    {"List", {"items"}},
    {"ResTarget", {"val", "indirection"}},
    {"SortBy", {"node"}},
    {"GroupingSet", {"content"}},
    {"XmlSerialize", {"expr"}},
    {"MultiAssignRef", {"source"}},
    {"RowCompareExpr", {"largs", "rargs"}},
};

}  // namespace

void walker::expression(int q, element e, clause c) {
    array items;
    if (e.get_array().get(items) == simdjson::SUCCESS) {
        for (element item : items) expression(q, item, c);
        return;
    }
    const auto n = node_of(e);
    if (n.null) return;
    if (!n.ok) {
        unknown("an unreadable expression node");
        return;
    }
    const auto& t = n.type;
    const object o = n.fields;

    if (t == "ColumnRef") {
        f_.queries[q].columns.push_back(column_reference(o, c));
        return;
    }
    if (t == "A_Const" || t == "ParamRef" || t == "SQLValueFunction" || t == "SetToDefault" || t == "String" ||
        t == "Integer" || t == "Float" || t == "Boolean" || t == "BitString" || t == "A_Star" || t == "TypeName")
        return;
    if (t == "A_Expr") {
        operator_ref op;
        op.name = string_list(o, "name");
        op.location = int_field(o, "location");
        f_.operators.push_back(op);
        expressions(q, o, "lexpr", c);
        expressions(q, o, "rexpr", c);
        return;
    }
    if (t == "FuncCall") {
        function_call(q, o, c, false);
        return;
    }
    if (t == "TypeCast") {
        // t::text turns a whole row into a value.
        element arg;
        if (o["arg"].get(arg) == simdjson::SUCCESS) {
            const auto inner = node_of(arg);
            if (inner.type == "ColumnRef") {
                auto ref = column_reference(inner.fields, c);
                ref.whole_row_candidate = true;
                f_.queries[q].columns.push_back(std::move(ref));
                return;
            }
            expression(q, arg, c);
        }
        return;
    }
    if (t == "A_Indirection") {
        // (t).col and (t).* read through a whole row.
        element arg;
        if (o["arg"].get(arg) == simdjson::SUCCESS) {
            const auto inner = node_of(arg);
            if (inner.type == "ColumnRef") {
                auto ref = column_reference(inner.fields, c);
                ref.whole_row_candidate = true;
                f_.queries[q].columns.push_back(std::move(ref));
            } else {
                expression(q, arg, c);
            }
        }
        expressions(q, o, "indirection", c);
        return;
    }
    if (t == "SubLink") {
        expressions(q, o, "testexpr", c);
        if (has(o, "operName")) {
            operator_ref op;
            op.name = string_list(o, "operName");
            op.location = int_field(o, "location");
            f_.operators.push_back(op);
        }
        element sub;
        if (o["subselect"].get(sub) == simdjson::SUCCESS) query_node(sub, q, false);
        return;
    }
    for (const auto& k : containers) {
        if (k.type != t) continue;
        for (const auto field : k.fields) {
            if (!field.empty()) expressions(q, o, field, c);
        }
        return;
    }
    unknown(t);
}

void walker::unknown(std::string_view type) {
    f_.unknown.emplace_back(type);
}

std::string figure_column_name(element value) {
    const auto n = node_of(value);
    if (!n.ok) return "?column?";
    const auto& t = n.type;
    if (t == "ColumnRef") {
        const auto names = string_list(n.fields, "fields");
        return names.empty() ? "?column?" : names.back();
    }
    if (t == "FuncCall") {
        const auto names = string_list(n.fields, "funcname");
        return names.empty() ? "?column?" : names.back();
    }
    if (t == "A_Indirection") {
        const auto names = string_list(n.fields, "indirection");
        if (!names.empty()) return names.back();
        element arg;
        if (n.fields["arg"].get(arg) == simdjson::SUCCESS) return figure_column_name(arg);
        return "?column?";
    }
    if (t == "TypeCast") {
        element arg;
        if (n.fields["arg"].get(arg) == simdjson::SUCCESS) {
            const auto inner = figure_column_name(arg);
            if (inner != "?column?") return inner;
        }
        object type_name;
        if (n.fields["typeName"].get_object().get(type_name) == simdjson::SUCCESS) {
            const auto names = string_list(type_name, "names");
            if (!names.empty()) return names.back();
        }
        return "?column?";
    }
    if (t == "CaseExpr") return "case";
    if (t == "CoalesceExpr") return "coalesce";
    if (t == "A_ArrayExpr") return "array";
    if (t == "RowExpr") return "row";
    if (t == "MinMaxExpr") return string_field(n.fields, "op") == "IS_GREATEST" ? "greatest" : "least";
    if (t == "SubLink") {
        const auto kind = string_field(n.fields, "subLinkType");
        if (kind == "EXISTS_SUBLINK") return "exists";
        if (kind == "ARRAY_SUBLINK") return "array";
        if (kind == "EXPR_SUBLINK") {
            element sub;
            if (n.fields["subselect"].get(sub) == simdjson::SUCCESS) {
                const auto s = node_of(sub);
                array targets;
                if (s.ok && s.fields["targetList"].get_array().get(targets) == simdjson::SUCCESS) {
                    for (element target : targets) {
                        const auto rt = node_of(target);
                        const auto name = string_field(rt.fields, "name");
                        if (!name.empty()) return std::string(name);
                        element val;
                        if (rt.fields["val"].get(val) == simdjson::SUCCESS) return figure_column_name(val);
                    }
                }
            }
        }
        return "?column?";
    }
    if (t == "SQLValueFunction") {
        const auto op = string_field(n.fields, "op");
        static const std::pair<std::string_view, std::string_view> names[] = {
            {"SVFOP_CURRENT_DATE", "current_date"}, {"SVFOP_CURRENT_TIME", "current_time"},
            {"SVFOP_CURRENT_TIME_N", "current_time"}, {"SVFOP_CURRENT_TIMESTAMP", "current_timestamp"},
            {"SVFOP_CURRENT_TIMESTAMP_N", "current_timestamp"}, {"SVFOP_LOCALTIME", "localtime"},
            {"SVFOP_LOCALTIME_N", "localtime"}, {"SVFOP_LOCALTIMESTAMP", "localtimestamp"},
            {"SVFOP_LOCALTIMESTAMP_N", "localtimestamp"}, {"SVFOP_CURRENT_ROLE", "current_role"},
            {"SVFOP_CURRENT_USER", "current_user"}, {"SVFOP_USER", "user"}, {"SVFOP_SESSION_USER", "session_user"},
            {"SVFOP_CURRENT_CATALOG", "current_catalog"}, {"SVFOP_CURRENT_SCHEMA", "current_schema"}};
        for (const auto& [k, v] : names) {
            if (op == k) return std::string(v);
        }
    }
    if (t == "A_Expr" && string_field(n.fields, "kind") == "AEXPR_NULLIF") return "nullif";
    return "?column?";
}

}  // namespace pgsieve::parser::detail
