// The generic part of the walk: opening a node against its rule, walking
// the fields its handler did not read, and refusing everything else.

#include "walker.hpp"

#include <fmt/format.h>

namespace pgsieve::parser::detail {

typed_node node_of(element e) {
    typed_node t;
    if (e.is_null()) {
        t.null = true;
        return t;
    }
    object o;
    if (e.get_object().get(o) != simdjson::SUCCESS) return t;
    if (o.size() == 0) {
        t.null = true;
        return t;
    }
    if (o.size() != 1) return t;
    for (auto [key, value] : o) {
        object fields;
        if (value.get_object().get(fields) != simdjson::SUCCESS) return t;
        t.type = key;
        t.fields = fields;
        t.ok = true;
    }
    return t;
}

std::string_view string_field(object o, std::string_view key) {
    std::string_view v;
    if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
    return v;
}

std::optional<std::vector<std::string>> string_list(element list) {
    std::vector<std::string> out;
    array items;
    if (list.get_array().get(items) != simdjson::SUCCESS) return std::nullopt;
    for (element item : items) {
        const auto n = node_of(item);
        if (!n.ok || n.type != "String" || n.fields.size() > 1) return std::nullopt;
        out.emplace_back(string_field(n.fields, "sval"));
    }
    return out;
}

std::optional<std::string> constant_text(element e) {
    const auto n = node_of(e);
    if (!n.ok) return std::nullopt;
    object value = n.fields;
    std::string_view key;
    if (n.type == "A_Const") {
        // A_Const holds its value as an unwrapped Integer/Float/… message.
        for (const std::string_view k : {"sval", "ival", "fval", "boolval", "bsval"}) {
            object inner;
            if (n.fields[k].get_object().get(inner) == simdjson::SUCCESS) {
                value = inner;
                key = k;
                break;
            }
        }
        if (key.empty()) return std::nullopt;  // NULL
    } else if (n.type == "String") {
        key = "sval";
    } else if (n.type == "Integer") {
        key = "ival";
    } else if (n.type == "Float") {
        key = "fval";
    } else if (n.type == "Boolean") {
        key = "boolval";
    } else {
        return std::nullopt;
    }
    element v;
    // Zero, false and "" are left out of libpg_query's JSON.
    if (value[key].get(v) != simdjson::SUCCESS) return key == "ival" ? "0" : key == "boolval" ? "false" : "";
    if (std::string_view s; v.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
    if (std::int64_t i = 0; v.get_int64().get(i) == simdjson::SUCCESS) return std::to_string(i);
    if (bool b = false; v.get_bool().get(b) == simdjson::SUCCESS) return b ? "true" : "false";
    return std::nullopt;
}

namespace {

std::optional<std::size_t> field_index(const node_rule& rule, std::string_view key) {
    for (std::size_t i = 0; i < rule.fields.size(); ++i) {
        if (rule.fields[i].name == key) return i;
    }
    return std::nullopt;
}

// A list of String nodes, checked without copying the names.
bool is_name_list(element list) {
    array items;
    if (list.get_array().get(items) != simdjson::SUCCESS) return false;
    for (element item : items) {
        const auto n = node_of(item);
        if (!n.ok || n.type != "String" || n.fields.size() > 1) return false;
    }
    return true;
}

bool is_scalar(element e) {
    const auto t = e.type();
    return t != simdjson::dom::element_type::OBJECT && t != simdjson::dom::element_type::ARRAY;
}

}  // namespace

bool node::add(std::uint8_t field, element value) {
    if (count_ == max_present) return false;
    slots_[count_++] = slot{field, false, value};
    return true;
}

std::optional<element> node::take(std::string_view key) {
    for (std::size_t i = 0; i < count_; ++i) {
        auto& s = slots_[i];
        if (rule_->fields[s.field].name == key) {
            s.taken = true;
            return s.value;
        }
    }
    return std::nullopt;
}

bool node::has(std::string_view key) const {
    for (std::size_t i = 0; i < count_; ++i) {
        if (rule_->fields[slots_[i].field].name == key) return true;
    }
    return false;
}

std::string_view node::take_string(std::string_view key) {
    std::string_view v;
    if (const auto e = take(key); e && e->get_string().get(v) != simdjson::SUCCESS) v = {};
    return v;
}

bool node::take_bool(std::string_view key) {
    bool v = false;
    if (const auto e = take(key); e && e->get_bool().get(v) != simdjson::SUCCESS) v = false;
    return v;
}

std::int64_t node::take_int(std::string_view key, std::int64_t fallback) {
    std::int64_t v = fallback;
    if (const auto e = take(key); e && e->get_int64().get(v) != simdjson::SUCCESS) v = fallback;
    return v;
}

void walker::unsupported(std::string what, int location) {
    f_.unsupported.push_back({std::move(what), location});
}

walker::depth_guard::depth_guard(walker& walker_) : w(walker_), ok(++w.depth_ <= max_walk_depth) {
    if (!ok && !w.too_deep_) {
        w.too_deep_ = true;
        w.unsupported(fmt::format("expressions nested more than {} levels deep", max_walk_depth));
    }
}

namespace {

// Reads the node's fields into `n` once, checking every key against the
// rule; refuses the first unknown one.
bool read_fields(walker& w, node& n) {
    const auto& rule = n.rule();
    for (auto [key, value] : n.fields()) {
        const auto i = field_index(rule, key);
        if (!i) {
            w.unsupported(fmt::format("{}.{}", n.type(), key), n.location());
            return false;
        }
        if (key == "location") {
            std::int64_t at = -1;
            if (value.get_int64().get(at) == simdjson::SUCCESS) n.set_location(static_cast<int>(at));
        }
        if (!n.add(static_cast<std::uint8_t>(*i), value)) {
            w.unsupported(fmt::format("a {} with more fields than pgsieve reads", n.type()), n.location());
            return false;
        }
    }
    return true;
}

}  // namespace

namespace {

std::string refusal_text(const node_rule& rule) {
    return rule.why.empty() ? std::string(rule.type) : fmt::format("{} ({})", rule.why, rule.type);
}

}  // namespace

std::optional<node> walker::open(element e, std::string_view type) {
    const auto t = node_of(e);
    if (t.null) return std::nullopt;
    if (!t.ok) {
        unsupported("an unreadable parse tree node");
        return std::nullopt;
    }
    const node_rule* rule = find_rule(t.type);
    if (!rule) {
        unsupported(fmt::format("the node {}", t.type));
        return std::nullopt;
    }
    node n(t.type, t.fields, *rule);
    if (rule->kind == node_kind::refused) {
        std::int64_t at = -1;
        if (t.fields["location"].get_int64().get(at) != simdjson::SUCCESS) at = -1;
        unsupported(refusal_text(*rule), static_cast<int>(at));
        return std::nullopt;
    }
    if (!type.empty() && t.type != type) {
        unsupported(fmt::format("{} where {} was expected", t.type, type));
        return std::nullopt;
    }
    if (!read_fields(*this, n)) return std::nullopt;
    return n;
}

std::optional<node> walker::open_message(element e, std::string_view type) {
    object fields;
    if (e.get_object().get(fields) != simdjson::SUCCESS) {
        unsupported(fmt::format("an unreadable {}", type));
        return std::nullopt;
    }
    const node_rule* rule = find_rule(type);
    if (!rule || rule->kind == node_kind::refused) {
        unsupported(rule ? refusal_text(*rule) : std::string(type));
        return std::nullopt;
    }
    node n(type, fields, *rule);
    if (!read_fields(*this, n)) return std::nullopt;
    return n;
}

void walker::finish(node& n, const walk_ctx& ctx) {
    const auto& rule = n.rule();
    for (std::size_t i = 0; i < n.present(); ++i) {
        const auto& s = n.at(i);
        if (s.taken) continue;
        const auto& field = rule.fields[s.field];
        switch (field.treatment) {
            case role::scalar:
                if (!is_scalar(s.value)) unsupported(fmt::format("{}.{} holding a node", n.type(), field.name), n.location());
                break;
            case role::names:
                if (!is_name_list(s.value)) unsupported(fmt::format("{}.{} holding more than names", n.type(), field.name), n.location());
                break;
            case role::expr:
                expressions(field.in ? ctx.in(*field.in) : ctx, s.value);
                break;
            case role::own:
                // The handler should have read it: fail closed if it did not.
                unsupported(fmt::format("{}.{}", n.type(), field.name), n.location());
                break;
            case role::absent:
                unsupported(fmt::format("{}.{} (set only by parse analysis)", n.type(), field.name), n.location());
                break;
        }
    }
}

namespace {

expr::kind kind_of(std::string_view type) {
    using k = expr::kind;
    static const std::pair<std::string_view, k> kinds[] = {
        {"A_Const", k::constant},       {"Integer", k::constant},      {"Float", k::constant},
        {"Boolean", k::constant},       {"String", k::constant},       {"BitString", k::constant},
        {"SQLValueFunction", k::constant}, {"ParamRef", k::param},     {"ColumnRef", k::column},
        {"FuncCall", k::function},      {"TypeCast", k::cast},         {"XmlSerialize", k::cast},
        {"A_Expr", k::operator_},       {"BoolExpr", k::boolean},      {"NullTest", k::test},
        {"BooleanTest", k::test},       {"CaseExpr", k::case_},        {"CaseWhen", k::case_when},
        {"CoalesceExpr", k::coalesce},  {"MinMaxExpr", k::min_max},    {"A_ArrayExpr", k::array},
        {"RowExpr", k::row},            {"SubLink", k::sublink},
    };
    for (const auto& [name, kind] : kinds) {
        if (name == type) return kind;
    }
    return k::other;
}

// Kinds whose handler names their operands; what else they hold is a use.
bool names_operands(expr::kind k) {
    using e = expr::kind;
    return k == e::function || k == e::cast || k == e::operator_ || k == e::case_ || k == e::case_when ||
           k == e::sublink;
}

}  // namespace

int walker::expression(const walk_ctx& ctx, element e) {
    const depth_guard guard(*this);
    if (!guard.ok) return -1;
    const auto t = node_of(e);
    if (t.null) return -1;
    auto n = open(e, {});
    if (!n) return -1;
    if (n->rule().kind != node_kind::expression) {
        unsupported(fmt::format("{} inside an expression", n->type()), n->location());
        return -1;
    }
    const int id = static_cast<int>(f_.exprs.size());
    expr x;
    x.what = kind_of(n->type());
    x.query = ctx.q;
    x.where = ctx.c;
    x.location = n->location();
    f_.exprs.push_back(std::move(x));
    const int parent = std::exchange(current_expr_, id);
    walk_ctx local = ctx;
    if (const auto h = n->rule().handle) (this->*h)(*n, local);
    finish(*n, local);
    current_expr_ = parent;
    if (parent < 0 && ctx.c == clause::where && ctx.q >= 0) f_.queries[ctx.q].where_expr = id;
    return id;
}

void walker::operand(const walk_ctx& ctx, element e) {
    if (array items; e.get_array().get(items) == simdjson::SUCCESS) {
        for (element item : items) operand(ctx, item);
        return;
    }
    const int id = expression(ctx, e);
    if (id >= 0 && current_expr_ >= 0) f_.exprs[current_expr_].operands.push_back(id);
}

void walker::expressions(const walk_ctx& ctx, element e) {
    if (array items; e.get_array().get(items) == simdjson::SUCCESS) {
        for (element item : items) expressions(ctx, item);
        return;
    }
    const int id = expression(ctx, e);
    if (id < 0 || current_expr_ < 0) return;
    auto& parent = f_.exprs[current_expr_];
    (names_operands(parent.what) ? parent.uses : parent.operands).push_back(id);
}

}  // namespace pgsieve::parser::detail
