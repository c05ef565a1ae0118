// Expressions: the handlers of the expression nodes that carry more than
// sub-expressions — column references, constants, operators (written or
// implied), function calls, casts, sub-queries.

#include "walker.hpp"

#include <fmt/format.h>

namespace pgsieve::parser::detail {

void walker::column_ref(node& n, walk_ctx& ctx) {
    parser::column_ref ref;
    ref.where = ctx.c;
    ref.location = n.location();
    if (const auto fields = n.take("fields")) {
        array parts;
        if (fields->get_array().get(parts) != simdjson::SUCCESS) {
            unsupported("ColumnRef.fields", ref.location);
            return;
        }
        const std::size_t count = parts.size();
        std::size_t i = 0;
        for (element part : parts) {
            ++i;
            const auto p = node_of(part);
            if (p.ok && p.type == "String") {
                ref.fields.emplace_back(string_field(p.fields, "sval"));
            } else if (p.ok && p.type == "A_Star" && i == count) {
                ref.star = true;
            } else {
                unsupported("a column reference pgsieve cannot read", ref.location);
                return;
            }
        }
    }
    if (ctx.q < 0) {
        unsupported("a column reference outside a query", ref.location);
        return;
    }
    f_.queries[ctx.q].columns.push_back(std::move(ref));
}

void walker::a_const(node& n, walk_ctx&) {
    // The value is an unwrapped Integer/Float/Boolean/String/BitString
    // message holding one scalar: nothing in it can name an object.
    for (const std::string_view key : {"ival", "fval", "boolval", "sval", "bsval"}) {
        const auto v = n.take(key);
        if (!v) continue;
        object o;
        bool scalar_only = v->get_object().get(o) == simdjson::SUCCESS && o.size() <= 1;
        for (auto [k, value] : o) {
            const auto t = value.type();
            if (t == simdjson::dom::element_type::OBJECT || t == simdjson::dom::element_type::ARRAY) scalar_only = false;
        }
        if (!scalar_only) unsupported("a constant pgsieve cannot read", n.location());
    }
}

void walker::operator_names(std::optional<element> names, int location, bool implicit) {
    if (!names) return;
    auto name = string_list(*names);
    if (!name || name->empty() || name->size() > 2) {
        unsupported("an operator name pgsieve cannot read", location);
        return;
    }
    f_.operators.push_back({std::move(*name), location, implicit});
}

void walker::implicit_operator(std::string_view name, int location) {
    f_.operators.push_back({{std::string(name)}, location, true});
}

void walker::a_expr(node& n, walk_ctx&) {
    const auto kind = n.take_string("kind");
    const int location = n.location();
    const auto name = n.take("name");
    if (kind == "AEXPR_BETWEEN" || kind == "AEXPR_NOT_BETWEEN" || kind == "AEXPR_BETWEEN_SYM" ||
        kind == "AEXPR_NOT_BETWEEN_SYM") {
        // The name is the keyword; PostgreSQL compares with >= and <=.
        if (name && !string_list(*name)) unsupported("BETWEEN", location);
        implicit_operator(">=", location);
        implicit_operator("<=", location);
        return;
    }
    // AEXPR_OP, _OP_ANY, _OP_ALL, DISTINCT, NOT_DISTINCT, NULLIF, IN,
    // LIKE, ILIKE, SIMILAR: the name is the operator PostgreSQL looks up.
    const bool implicit = kind == "AEXPR_DISTINCT" || kind == "AEXPR_NOT_DISTINCT" || kind == "AEXPR_NULLIF" ||
                          kind == "AEXPR_IN";
    if (!name) {
        unsupported("an operator expression without an operator", location);
        return;
    }
    operator_names(name, location, implicit);
}

void walker::func_call(node& n, walk_ctx& ctx) {
    function_ref fn;
    fn.location = n.location();
    if (const auto names = n.take("funcname")) {
        if (auto list = string_list(*names); list && !list->empty()) fn.name = std::move(*list);
    }
    if (fn.name.empty()) {
        unsupported("a function call pgsieve cannot read", fn.location);
        return;
    }
    fn.star = n.take_bool("agg_star");
    fn.variadic = n.take_bool("func_variadic");
    if (const auto args = n.take("args")) {
        array list;
        if (args->get_array().get(list) != simdjson::SUCCESS) {
            unsupported("FuncCall.args", fn.location);
            return;
        }
        fn.arguments = static_cast<int>(list.size());
        bool first = true;
        for (element arg : list) {
            if (first) {
                // 'x' and 'x'::text are constants a built-in's safety may depend on.
                const auto a = node_of(arg);
                element inner = arg;
                if (a.ok && a.type == "TypeCast" && a.fields["arg"].get(inner) != simdjson::SUCCESS) inner = arg;
                if (const auto text = constant_text(inner); text && node_of(inner).type == "A_Const") {
                    fn.first_argument_constant = true;
                    if (node_of(inner).fields["sval"].error() == simdjson::SUCCESS) fn.first_text_argument = *text;
                }
                first = false;
            }
            expressions(ctx.in(clause::function_argument), arg);
        }
    }
    // Inside an aggregate, ORDER BY names input columns, never outputs.
    const auto order = n.take("agg_order");
    // WITHIN GROUP (ORDER BY x): x is an argument of the ordered-set aggregate too.
    array ordered;
    if (n.take_bool("agg_within_group") && order && as_list(*order, ordered)) fn.arguments += static_cast<int>(ordered.size());
    sort_items(ctx.in(clause::order_by), order, false);
    if (const auto over = n.take("over")) {
        if (auto w = open_message(*over, "WindowDef")) {
            window_def(ctx, *w);
            finish(*w, ctx.in(clause::window));
        }
    }
    // Last, after the calls in its arguments: a FROM item reads it as back().
    f_.functions.push_back(std::move(fn));
}

void walker::type_name(node& n, walk_ctx&) {
    if (const auto names = n.take("names")) {
        auto list = string_list(*names);
        if (!list || list->empty()) {
            unsupported("a type name pgsieve cannot read", n.location());
            return;
        }
        f_.types.push_back({std::move(*list), n.location()});
    }
}

namespace {

// The least "location" anywhere inside `e`: where an expression's text begins
// (an operator's own location is its operator, a parenthesis may come first).
int least_location(element e, int depth = 0) {
    int out = -1;
    const auto keep = [&out](int v) {
        if (v >= 0 && (out < 0 || v < out)) out = v;
    };
    if (depth > 4096) return out;
    object o;
    array a;
    if (e.get_object().get(o) == simdjson::SUCCESS) {
        for (auto [key, value] : o) {
            std::int64_t v;
            if (key == "location" && value.get_int64().get(v) == simdjson::SUCCESS) keep(static_cast<int>(v));
            else keep(least_location(value, depth + 1));
        }
    } else if (e.get_array().get(a) == simdjson::SUCCESS) {
        for (element item : a) keep(least_location(item, depth + 1));
    }
    return out;
}

}  // namespace

void walker::type_cast(node& n, walk_ctx& ctx) {
    const auto types_before = f_.types.size();
    if (const auto t = n.take("typeName")) {
        if (auto tn = open_message(*t, "TypeName")) {
            walk_ctx local = ctx;
            const bool array = tn->fields()["arrayBounds"].error() == simdjson::SUCCESS;
            type_name(*tn, local);
            finish(*tn, local);
            if (f_.types.size() > types_before) {
                auto& cast = f_.types.back();
                // A typed literal (regclass 'x') has no location of its own: its type name begins it.
                cast.cast_location = n.location() >= 0 ? n.location() : cast.location;
                cast.array = array;
                element arg;
                if (n.fields()["arg"].get(arg) == simdjson::SUCCESS) cast.operand_start = least_location(arg);
            }
        }
    }
}

void walker::xml_serialize(node& n, walk_ctx& ctx) {
    const auto types_before = f_.types.size();
    type_cast(n, ctx);
    // XMLSERIALIZE(… AS t): a conversion, but not one a splice can guard.
    if (f_.types.size() > types_before) f_.types.back().cast_location = -1;
}

void walker::sub_link(node& n, walk_ctx& ctx) {
    const int location = n.location();
    const auto type = n.take_string("subLinkType");
    if (const auto op = n.take("operName")) {
        operator_names(op, location, false);
    } else if (type == "ANY_SUBLINK" || type == "ALL_SUBLINK") {
        implicit_operator("=", location);  // x IN (SELECT …)
    }
    if (const auto sub = n.take("subselect")) query_node(*sub, ctx.q, false);
}

void walker::case_expr(node& n, walk_ctx& ctx) {
    if (const auto arg = n.take("arg")) {
        implicit_operator("=", n.location());  // CASE x WHEN v compares x = v
        expressions(ctx, *arg);
    }
}

void walker::min_max_expr(node& n, walk_ctx&) {
    // GREATEST and LEAST compare with the type's ordering operators.
    implicit_operator("<", n.location());
    implicit_operator(">", n.location());
}

void walker::xml_expr(node& n, walk_ctx& ctx) {
    // XMLATTRIBUTES / XMLFOREST items are ResTargets: a name and a value.
    const auto items = n.take("named_args");
    if (!items) return;
    array list;
    if (items->get_array().get(list) != simdjson::SUCCESS) {
        unsupported("XmlExpr.named_args", n.location());
        return;
    }
    for (element item : list) {
        auto target = open(item, "ResTarget");
        if (!target) continue;
        if (const auto val = target->take("val")) expressions(ctx, *val);
        finish(*target, ctx);
    }
}

}  // namespace pgsieve::parser::detail
