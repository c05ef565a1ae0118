#include <pgsieve/policy/catalog.hpp>

#include <algorithm>

namespace pgsieve::policy {

namespace catalog_sql {
const char* const relations =
    "SELECT n.nspname, c.relname, c.relkind, a.attname, tn.nspname, t.typname, en.nspname, e.typname, "
    "pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace "
    "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
    "LEFT JOIN pg_catalog.pg_namespace en ON en.oid = e.typnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') "
    "ORDER BY n.nspname, c.relname, a.attnum";
const char* const functions =
    "SELECT n.nspname, p.proname, p.provolatile, p.prokind, p.pronargs, p.pronargdefaults, p.provariadic <> 0, "
    "p.proretset, rn.nspname, rt.typname, "
    "CASE WHEN p.proargmodes IS NOT NULL THEN "
    "(SELECT pg_catalog.array_agg(coalesce(nullif(p.proargnames[i], ''), 'column' || i) ORDER BY i) "
    "FROM pg_catalog.generate_subscripts(p.proargmodes, 1) AS i WHERE p.proargmodes[i] IN ('o', 'b', 't')) "
    "WHEN rt.typtype = 'c' THEN "
    "(SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a "
    "WHERE a.attrelid = rt.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END "
    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "LEFT JOIN pg_catalog.pg_type rt ON rt.oid = p.prorettype "
    "LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rt.typnamespace "
    "ORDER BY n.nspname, p.proname, p.oid";
const char* const operators =
    "SELECT n.nspname, o.oprname, fn.nspname, f.proname, ln.nspname, l.typname, rn.nspname, r.typname "
    "FROM pg_catalog.pg_operator o "
    "JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace "
    "JOIN pg_catalog.pg_proc f ON f.oid = o.oprcode "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace "
    "LEFT JOIN pg_catalog.pg_type l ON l.oid = o.oprleft "
    "LEFT JOIN pg_catalog.pg_namespace ln ON ln.oid = l.typnamespace "
    "LEFT JOIN pg_catalog.pg_type r ON r.oid = o.oprright "
    "LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.typnamespace "
    "WHERE n.nspname <> 'pg_catalog' OR fn.nspname <> 'pg_catalog' "
    "ORDER BY o.oid";
const char* const role =
    "SELECT r.rolsuper, r.rolbypassrls, n.nspname, c.relname "
    "FROM pg_catalog.pg_roles r "
    "LEFT JOIN pg_catalog.pg_class c ON c.relowner = r.oid AND c.relkind IN ('r', 'v', 'm', 'f', 'p') "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE r.rolname = current_user "
    "ORDER BY n.nspname, c.relname";
const char* const domains =
    "SELECT dn.nspname, d.typname, bn.nspname, b.typname, fn.nspname, f.proname "
    "FROM pg_catalog.pg_type d "
    "JOIN pg_catalog.pg_namespace dn ON dn.oid = d.typnamespace "
    "JOIN pg_catalog.pg_type b ON b.oid = d.typbasetype "
    "JOIN pg_catalog.pg_namespace bn ON bn.oid = b.typnamespace "
    "LEFT JOIN ("
    "SELECT c.contypid, dep.refobjid AS fn FROM pg_catalog.pg_constraint c "
    "JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass "
    "AND dep.objid = c.oid AND dep.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass "
    "WHERE c.contypid <> 0 "
    "UNION "
    "SELECT c.contypid, o.oprcode::pg_catalog.oid FROM pg_catalog.pg_constraint c "
    "JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass "
    "AND dep.objid = c.oid AND dep.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass "
    "JOIN pg_catalog.pg_operator o ON o.oid = dep.refobjid "
    "WHERE c.contypid <> 0) uses ON uses.contypid = d.oid "
    "LEFT JOIN pg_catalog.pg_proc f ON f.oid = uses.fn "
    "LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace "
    "WHERE d.typtype = 'd' "
    "ORDER BY dn.nspname, d.typname, fn.nspname, f.proname";
const char* const sequences =
    "SELECT tn.nspname, t.relname, sn.nspname, s.relname "
    "FROM pg_catalog.pg_depend d "
    "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
    "JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace "
    "JOIN pg_catalog.pg_class t ON t.oid = d.refobjid "
    "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
    "WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
    "AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') "
    "ORDER BY tn.nspname, t.relname, sn.nspname, s.relname";
const char* const casts =
    "SELECT tn.nspname, t.typname, fn.nspname, f.proname, c.castcontext "
    "FROM pg_catalog.pg_cast c "
    "JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace "
    "JOIN pg_catalog.pg_type t ON t.oid = c.casttarget "
    "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace "
    "WHERE fn.nspname <> 'pg_catalog' "
    "ORDER BY c.oid";
}  // namespace catalog_sql

const column_info* relation_info::column(const std::string& name) const {
    for (const auto& c : column_types) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

bool function_info::accepts(int n, bool variadic_call) const {
    if (variadic_call) return variadic && n == arguments;
    if (n >= arguments - defaults && n <= arguments) return true;
    // A VARIADIC parameter takes any number of trailing arguments.
    return variadic && n >= arguments - 1 - defaults;
}

catalog::catalog(std::vector<relation_info> relations, std::vector<function_info> functions,
                 std::vector<operator_info> operators) {
    for (auto& r : relations) {
        auto key = std::make_pair(r.schema, r.name);
        relations_.emplace(std::move(key), std::move(r));
    }
    function_count_ = functions.size();
    for (auto& f : functions) functions_[{f.schema, f.name}].push_back(std::move(f));
    for (auto& o : operators) user_operators_.emplace(o.name, std::move(o));
}

const relation_info* catalog::relation(const std::string& schema, const std::string& name) const {
    const auto it = relations_.find({schema, name});
    return it == relations_.end() ? nullptr : &it->second;
}

const relation_info* catalog::resolve_relation(const std::string& name, const std::vector<std::string>& path) const {
    for (const auto& schema : path) {
        if (const auto* r = relation(schema, name)) return r;
    }
    return nullptr;
}

const std::vector<function_info>* catalog::functions(const std::string& schema, const std::string& name) const {
    const auto it = functions_.find({schema, name});
    return it == functions_.end() ? nullptr : &it->second;
}

std::vector<const operator_info*> catalog::user_operators(const std::string& name) const {
    std::vector<const operator_info*> out;
    const auto [begin, end] = user_operators_.equal_range(name);
    for (auto it = begin; it != end; ++it) out.push_back(&it->second);
    return out;
}

std::vector<std::string> resolution_path(const std::vector<std::string>& search_path, const std::string& role) {
    std::vector<std::string> out;
    out.reserve(search_path.size() + 1);
    // PostgreSQL searches pg_catalog first unless the path names it (namespace.c).
    if (std::find(search_path.begin(), search_path.end(), "pg_catalog") == search_path.end()) out.emplace_back("pg_catalog");
    for (const auto& schema : search_path) {
        if (schema == "$user") {
            if (!role.empty()) out.push_back(role);
        } else {
            out.push_back(schema);
        }
    }
    return out;
}

std::optional<std::vector<std::string>> parse_text_array(std::string_view text) {
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') return std::nullopt;
    std::vector<std::string> out;
    std::size_t i = 1;
    const std::size_t end = text.size() - 1;
    if (i == end) return out;
    for (;;) {
        std::string item;
        if (text[i] == '"') {
            for (++i;; ++i) {
                if (i >= end) return std::nullopt;
                if (text[i] == '\\' && i + 1 < end) {
                    item += text[++i];
                } else if (text[i] == '"') {
                    ++i;
                    break;
                } else {
                    item += text[i];
                }
            }
        } else {
            while (i < end && text[i] != ',') item += text[i++];
        }
        out.push_back(std::move(item));
        if (i == end) return out;
        if (text[i] != ',') return std::nullopt;
        ++i;
    }
}

namespace {

std::string text(const row& r, std::size_t i) { return i < r.size() && r[i] ? *r[i] : std::string(); }
char first(const row& r, std::size_t i, char fallback) {
    const auto t = text(r, i);
    return t.empty() ? fallback : t[0];
}
int number(const row& r, std::size_t i) {
    try {
        return std::stoi(text(r, i));
    } catch (...) {
        return 0;
    }
}
type_key type_at(const row& r, std::size_t i) { return {text(r, i), text(r, i + 1)}; }

}  // namespace

std::shared_ptr<const catalog> catalog_from_rows(const catalog_rows& rows) {
    std::vector<relation_info> rels;
    for (const auto& r : rows.relations) {
        if (rels.empty() || rels.back().schema != text(r, 0) || rels.back().name != text(r, 1)) {
            relation_info info;
            info.schema = text(r, 0);
            info.name = text(r, 1);
            info.kind = first(r, 2, 'r');
            info.owner = text(r, 8);
            info.row_security = text(r, 9) == "t";
            info.force_row_security = text(r, 10) == "t";
            rels.push_back(std::move(info));
        }
        if (r.size() > 3 && r[3]) {
            rels.back().columns.push_back(*r[3]);
            rels.back().column_types.push_back({*r[3], type_at(r, 4), type_at(r, 6)});
        }
    }
    std::vector<function_info> fns;
    for (const auto& r : rows.functions) {
        function_info f;
        f.schema = text(r, 0);
        f.name = text(r, 1);
        f.volatility = first(r, 2, 'v');
        f.kind = first(r, 3, 'f');
        f.arguments = number(r, 4);
        f.defaults = number(r, 5);
        f.variadic = text(r, 6) == "t";
        f.returns_set = text(r, 7) == "t";
        f.result = type_at(r, 8);
        if (r.size() > 10 && r[10]) f.result_columns = parse_text_array(*r[10]);
        fns.push_back(std::move(f));
    }
    std::vector<operator_info> ops;
    for (const auto& r : rows.operators)
        ops.push_back({text(r, 0), text(r, 1), text(r, 2), text(r, 3), type_at(r, 4), type_at(r, 6)});
    auto result = std::make_shared<catalog>(std::move(rels), std::move(fns), std::move(ops));
    for (const auto& r : rows.role) {
        result->upstream_role.superuser = text(r, 0) == "t";
        result->upstream_role.bypass_rls = text(r, 1) == "t";
        if (r.size() > 3 && r[2] && r[3]) result->upstream_role.owned.emplace_back(*r[2], *r[3]);
    }
    for (const auto& r : rows.domains) {
        auto& d = result->domains[type_at(r, 0)];
        d.base = type_at(r, 2);
        if (r.size() > 5 && r[4] && r[5]) d.functions.emplace_back(*r[4], *r[5]);
    }
    for (const auto& r : rows.sequences) result->sequences[{text(r, 0), text(r, 1)}].emplace_back(text(r, 2), text(r, 3));
    for (const auto& r : rows.casts) {
        cast_info c{type_at(r, 0), text(r, 2), text(r, 3), first(r, 4, 'e')};
        result->casts.emplace(c.target, std::move(c));
    }
    return result;
}

// COPY text format: fields separated by tabs, \N for NULL, backslash escapes.
namespace {

constexpr std::pair<const char*, std::vector<row> catalog_rows::*> sections[] = {
    {"relations", &catalog_rows::relations}, {"functions", &catalog_rows::functions},
    {"operators", &catalog_rows::operators}, {"role", &catalog_rows::role},
    {"domains", &catalog_rows::domains},     {"casts", &catalog_rows::casts},
    {"sequences", &catalog_rows::sequences}};

void escape_into(std::string& out, std::string_view field) {
    for (const char c : field) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            default: out += c;
        }
    }
}

std::optional<std::string> unescape(std::string_view field) {
    if (field == "\\N") return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] != '\\' || i + 1 == field.size()) {
            out += field[i];
            continue;
        }
        const char c = field[++i];
        out += c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
    }
    return out;
}

}  // namespace

std::string dump_catalog_rows(const catalog_rows& rows) {
    std::string out;
    for (const auto& [name, member] : sections) {
        out += "== ";
        out += name;
        out += '\n';
        for (const auto& r : rows.*member) {
            for (std::size_t i = 0; i < r.size(); ++i) {
                if (i) out += '\t';
                if (r[i]) escape_into(out, *r[i]);
                else out += "\\N";
            }
            out += '\n';
        }
    }
    return out;
}

std::optional<catalog_rows> read_catalog_rows(std::string_view text) {
    catalog_rows rows;
    std::vector<row>* current = nullptr;
    while (!text.empty()) {
        const auto eol = text.find('\n');
        const std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        if (line.starts_with("== ")) {
            current = nullptr;
            for (const auto& [name, member] : sections) {
                if (line.substr(3) == name) current = &(rows.*member);
            }
            if (!current) return std::nullopt;
            continue;
        }
        if (!current) return std::nullopt;
        row r;
        std::size_t start = 0;
        for (;;) {
            const auto tab = line.find('\t', start);
            r.push_back(unescape(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start)));
            if (tab == std::string_view::npos) break;
            start = tab + 1;
        }
        current->push_back(std::move(r));
    }
    return rows;
}

}  // namespace pgsieve::policy
