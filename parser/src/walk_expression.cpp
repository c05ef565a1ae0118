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
    if (current_expr_ >= 0) f_.exprs[current_expr_].ref = static_cast<int>(f_.queries[ctx.q].columns.size()) - 1;
}

void walker::param_ref(node& n, walk_ctx&) {
    if (current_expr_ >= 0) f_.exprs[current_expr_].ref = static_cast<int>(n.take_int("number"));
}

void walker::bool_expr(node& n, walk_ctx&) {
    const auto op = n.take_string("boolop");
    if (current_expr_ >= 0)
        f_.exprs[current_expr_].variant = op == "AND_EXPR" ? expr::and_ : op == "OR_EXPR" ? expr::or_ : expr::not_;
}

void walker::null_test(node& n, walk_ctx&) {
    const auto t = n.take_string("nulltesttype");
    if (current_expr_ >= 0) f_.exprs[current_expr_].variant = t == "IS_NULL" ? expr::is_null : expr::is_not_null;
}

void walker::boolean_test(node& n, walk_ctx&) {
    const auto t = n.take_string("booltesttype");
    if (current_expr_ < 0) return;
    static const std::pair<std::string_view, expr::test_kind> kinds[] = {
        {"IS_TRUE", expr::is_true},       {"IS_NOT_TRUE", expr::is_not_true}, {"IS_FALSE", expr::is_false},
        {"IS_NOT_FALSE", expr::is_not_false}, {"IS_UNKNOWN", expr::is_unknown}, {"IS_NOT_UNKNOWN", expr::is_not_unknown},
    };
    // An unknown spelling reads as the widest test: a guardrail then refuses it.
    f_.exprs[current_expr_].variant = expr::is_not_null;
    for (const auto& [name, kind] : kinds)
        if (name == t) f_.exprs[current_expr_].variant = kind;
}

void walker::case_when(node& n, walk_ctx& ctx) {
    // Its condition, then its result: the CASE's value comes from the results.
    if (const auto cond = n.take("expr")) operand(ctx, *cond);
    if (const auto result = n.take("result")) operand(ctx, *result);
}

void walker::a_const(node& n, walk_ctx&) {
    if (n.take_bool("isnull") && current_expr_ >= 0) f_.exprs[current_expr_].what = expr::kind::null;
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

namespace {
expr::a_expr_kind a_expr_kind_of(std::string_view kind) {
    if (kind == "AEXPR_OP_ANY") return expr::op_any;
    if (kind == "AEXPR_OP_ALL") return expr::op_all;
    if (kind == "AEXPR_DISTINCT") return expr::distinct;
    if (kind == "AEXPR_NOT_DISTINCT") return expr::not_distinct;
    if (kind == "AEXPR_NULLIF") return expr::nullif;
    if (kind == "AEXPR_IN") return expr::in;
    if (kind == "AEXPR_LIKE") return expr::like;
    if (kind == "AEXPR_ILIKE") return expr::ilike;
    if (kind == "AEXPR_SIMILAR") return expr::similar;
    if (kind.starts_with("AEXPR_BETWEEN") || kind.starts_with("AEXPR_NOT_BETWEEN")) return expr::between;
    return expr::op;
}
}  // namespace

void walker::a_expr(node& n, walk_ctx& ctx) {
    const auto kind = n.take_string("kind");
    const int location = n.location();
    const auto name = n.take("name");
    if (current_expr_ >= 0) {
        auto& x = f_.exprs[current_expr_];
        x.variant = a_expr_kind_of(kind);
        x.ref = static_cast<int>(f_.operators.size());
    }
    // The operands, in order (a List for IN and BETWEEN's bounds).
    if (const auto l = n.take("lexpr")) operand(ctx, *l);
    if (const auto r = n.take("rexpr")) operand(ctx, *r);
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
            operand(ctx.in(clause::function_argument), arg);
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
    if (current_expr_ >= 0) f_.exprs[current_expr_].ref = static_cast<int>(f_.functions.size()) - 1;
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
    // XMLSERIALIZE holds its value as "expr", a cast as "arg".
    const auto value = n.has("arg") ? n.take("arg") : n.take("expr");
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
                if (value) cast.operand_start = least_location(*value);
                if (current_expr_ >= 0) f_.exprs[current_expr_].ref = static_cast<int>(f_.types.size()) - 1;
            }
        }
    }
    if (value) operand(ctx, *value);
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
    const int self = current_expr_;
    if (const auto test = n.take("testexpr")) operand(ctx, *test);
    const int q = [&] {
        const auto sub = n.take("subselect");
        return sub ? query_node(*sub, ctx.q, false) : -1;
    }();
    if (self >= 0) {
        auto& x = f_.exprs[self];
        x.ref = q;
        x.variant = type == "EXISTS_SUBLINK"       ? expr::exists
                    : type == "ALL_SUBLINK"        ? expr::all
                    : type == "ANY_SUBLINK"        ? expr::any
                    : type == "ROWCOMPARE_SUBLINK" ? expr::rowcompare
                    : type == "MULTIEXPR_SUBLINK"  ? expr::multiexpr
                    : type == "ARRAY_SUBLINK"      ? expr::array_of
                    : type == "CTE_SUBLINK"        ? expr::cte
                                                   : expr::scalar;
    }
}

void walker::case_expr(node& n, walk_ctx& ctx) {
    const int self = current_expr_;
    std::uint8_t variant = 0;
    if (const auto arg = n.take("arg")) {
        implicit_operator("=", n.location());  // CASE x WHEN v compares x = v
        operand(ctx, *arg);
        variant |= expr::case_has_arg;
    }
    if (const auto whens = n.take("args")) operand(ctx, *whens);
    if (const auto otherwise = n.take("defresult")) {
        operand(ctx, *otherwise);
        variant |= expr::case_has_default;
    }
    if (self >= 0) f_.exprs[self].variant = variant;
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
