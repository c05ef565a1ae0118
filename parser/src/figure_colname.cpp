// PostgreSQL's FigureColname (parse_target.c): the name an unnamed output
// column gets, so references to a derived table's columns resolve.

#include "walker.hpp"

namespace pgsieve::parser::detail {

namespace {

std::string last_name(object o, std::string_view key) {
    element list;
    if (o[key].get(list) != simdjson::SUCCESS) return {};
    const auto names = string_list(list);
    return names && !names->empty() ? names->back() : std::string();
}

std::string or_unnamed(std::string name) { return name.empty() ? "?column?" : name; }

}  // namespace

std::string figure_column_name(element value) {
    const auto n = node_of(value);
    if (!n.ok) return "?column?";
    const auto& t = n.type;
    if (t == "ColumnRef") return or_unnamed(last_name(n.fields, "fields"));
    if (t == "FuncCall") return or_unnamed(last_name(n.fields, "funcname"));
    if (t == "A_Indirection") {
        if (auto name = last_name(n.fields, "indirection"); !name.empty()) return name;
        element arg;
        if (n.fields["arg"].get(arg) == simdjson::SUCCESS) return figure_column_name(arg);
        return "?column?";
    }
    if (t == "TypeCast") {
        element arg;
        if (n.fields["arg"].get(arg) == simdjson::SUCCESS) {
            if (auto inner = figure_column_name(arg); inner != "?column?") return inner;
        }
        object type_name;
        if (n.fields["typeName"].get_object().get(type_name) == simdjson::SUCCESS)
            return or_unnamed(last_name(type_name, "names"));
        return "?column?";
    }
    if (t == "CollateClause") {
        element arg;
        if (n.fields["arg"].get(arg) == simdjson::SUCCESS) return figure_column_name(arg);
    }
    if (t == "CaseExpr") return "case";
    if (t == "CoalesceExpr") return "coalesce";
    if (t == "A_ArrayExpr") return "array";
    if (t == "RowExpr") return "row";
    if (t == "GroupingFunc") return "grouping";
    if (t == "MinMaxExpr") return string_field(n.fields, "op") == "IS_GREATEST" ? "greatest" : "least";
    if (t == "XmlSerialize") return "xmlserialize";
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
        static constexpr std::pair<std::string_view, std::string_view> names[] = {
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
