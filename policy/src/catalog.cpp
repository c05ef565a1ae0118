#include <pgsieve/policy/builtin_functions.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <pgsieve/common/sql_text.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace pgsieve::policy {

namespace catalog_sql {
const char* const relations =
    "SELECT n.nspname, c.relname, c.relkind, a.attname, tn.nspname, t.typname, en.nspname, e.typname, "
    "pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity, c.oid, c.reltype, "
    "c.relhassubclass, ix.columns, a.attnum, vr.reads "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN (SELECT i.indrelid, pg_catalog.array_agg(DISTINCT COALESCE(ia.attname::pg_catalog.text, '')) AS columns "
    "FROM pg_catalog.pg_index i "
    "CROSS JOIN LATERAL (SELECT k.n FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) AS k(n) "
    "UNION ALL SELECT 0::pg_catalog.int2 WHERE i.indexprs IS NOT NULL OR i.indpred IS NOT NULL) AS ik(n) "
    "LEFT JOIN pg_catalog.pg_attribute ia ON ia.attrelid = i.indrelid AND ia.attnum = ik.n AND ik.n > 0 "
    "GROUP BY i.indrelid) ix ON ix.indrelid = c.oid "
    // A view's (or materialized view's) rules read these columns of other relations.
    "LEFT JOIN (SELECT w.ev_class, pg_catalog.array_agg(DISTINCT pg_catalog.concat(d.refobjid, ':', d.refobjsubid)) "
    "AS reads FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_depend d ON d.classid = "
    "'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = w.oid AND d.refclassid = "
    "'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0 AND d.refobjid <> w.ev_class "
    "GROUP BY w.ev_class) vr ON vr.ev_class = c.oid "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace "
    "LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
    "LEFT JOIN pg_catalog.pg_namespace en ON en.oid = e.typnamespace "
    "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'c') "
    "ORDER BY n.nspname, c.relname, a.attnum";
const char* const types =
    "SELECT t.oid, n.nspname, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typrelid, "
    "COALESCE(r.rngsubtype, m.rngtypid, 0), t.typinput::pg_catalog.oid, t.typoutput::pg_catalog.oid, "
    "t.typreceive::pg_catalog.oid, t.typsend::pg_catalog.oid "
    "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
    "LEFT JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid "
    "LEFT JOIN pg_catalog.pg_range m ON m.rngmultitypid = t.oid "
    "ORDER BY t.oid";
const char* const functions =
    "SELECT n.nspname, p.proname, p.provolatile, p.prokind, p.pronargs, p.pronargdefaults, p.provariadic <> 0, "
    "p.proretset, rn.nspname, rt.typname, "
    "CASE WHEN p.proargmodes IS NOT NULL THEN "
    "(SELECT pg_catalog.array_agg(coalesce(nullif(p.proargnames[i], ''), 'column' || i) ORDER BY i) "
    "FROM pg_catalog.generate_subscripts(p.proargmodes, 1) AS i WHERE p.proargmodes[i] IN ('o', 'b', 't')) "
    "WHEN rt.typtype = 'c' THEN "
    "(SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a "
    "WHERE a.attrelid = rt.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END, p.oid, p.prorettype, "
    "pg_catalog.array_to_string(p.proargtypes::pg_catalog.oid[], ' '), "
    "(SELECT pg_catalog.string_agg(a.t::pg_catalog.text, ' ' ORDER BY a.i) "
    "FROM ROWS FROM (pg_catalog.unnest(p.proallargtypes), pg_catalog.unnest(p.proargmodes)) WITH ORDINALITY "
    "AS a(t, m, i) WHERE a.m IN ('o', 't')) "
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
const char* const row_policies =
    "SELECT schemaname, tablename, policyname, permissive, roles, cmd, qual, with_check "
    "FROM pg_catalog.pg_policies ORDER BY schemaname, tablename, policyname";

namespace {
std::string name_array(const std::vector<std::string>& names) {
    std::string out = "ARRAY[";
    for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + quote_literal(names[i]);
    return out + "]::pg_catalog.text[]";
}
}  // namespace

std::string roles(const std::vector<std::string>& names) {
    return fmt::format(
        "SELECT w.name, r.rolsuper, r.rolbypassrls, r.rolcreaterole, m.rolname, m.rolsuper, m.rolbypassrls "
        "FROM pg_catalog.unnest({}) AS w(name) "
        "LEFT JOIN pg_catalog.pg_roles r ON r.rolname = w.name "
        "LEFT JOIN pg_catalog.pg_roles m ON m.oid <> r.oid AND pg_catalog.pg_has_role(r.oid, m.oid, 'MEMBER') "
        "ORDER BY 1, 5",
        name_array(names));
}

// has_*_privilege() answer as PostgreSQL checks a statement: through
// memberships, PUBLIC and ownership included.
std::string privileges(const std::vector<std::string>& names) {
    const auto held = [](const char* function, const char* subject, std::initializer_list<const char*> privileges) {
        std::string out = "pg_catalog.array_remove(ARRAY[";
        bool first = true;
        for (const char* p : privileges) {
            out += fmt::format("{}CASE WHEN pg_catalog.{}(r.oid, {}, '{}') THEN '{}' END", first ? "" : ", ", function,
                               subject, p, p);
            first = false;
        }
        return out + "]::pg_catalog.text[], NULL)";
    };
    return fmt::format(
        "WITH r AS (SELECT oid, rolname FROM pg_catalog.pg_roles WHERE rolname = ANY ({0})), "
        "t AS (SELECT r.rolname, r.oid AS role_oid, c.oid AS rel_oid, c.relkind, n.nspname, c.relname, "
        "pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE') AS owner, "
        "CASE WHEN c.relkind = 'S' THEN {1} ELSE {2} END AS privileges "
        "FROM r CROSS JOIN pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p', 'S') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast') "
        "SELECT rolname, nspname, relname, NULL, pg_catalog.array_to_string(privileges, ','), owner FROM t "
        "WHERE owner OR pg_catalog.cardinality(privileges) > 0 "
        "UNION ALL "
        "SELECT t.rolname, t.nspname, t.relname, a.attname, pg_catalog.array_to_string(k.privileges, ','), false "
        "FROM t JOIN pg_catalog.pg_attribute a ON a.attrelid = t.rel_oid AND a.attnum > 0 AND NOT a.attisdropped "
        "CROSS JOIN LATERAL (SELECT pg_catalog.array_remove(ARRAY[{3}]::pg_catalog.text[], NULL)) AS k(privileges) "
        "WHERE t.relkind <> 'S' "
        "AND pg_catalog.has_any_column_privilege(t.role_oid, t.rel_oid, 'SELECT, INSERT, UPDATE, REFERENCES') "
        "AND pg_catalog.cardinality(k.privileges) > 0 "
        "UNION ALL "
        "SELECT r.rolname, n.nspname, NULL, NULL, 'CREATE', pg_catalog.pg_has_role(r.oid, n.nspowner, 'USAGE') "
        "FROM r CROSS JOIN pg_catalog.pg_namespace n "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' "
        "AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE') "
        "ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST",
        name_array(names), held("has_sequence_privilege", "c.oid", {"USAGE", "SELECT", "UPDATE"}),
        held("has_table_privilege", "c.oid", {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}),
        // Column-level privileges the table-level ones do not already give.
        [] {
            std::string out;
            for (const char* p : {"SELECT", "INSERT", "UPDATE", "REFERENCES"})
                out += fmt::format("{}CASE WHEN NOT '{}' = ANY (t.privileges) AND pg_catalog.has_column_privilege("
                                   "t.role_oid, t.rel_oid, a.attnum, '{}') THEN '{}' END",
                                   out.empty() ? "" : ", ", p, p, p);
            return out;
        }());
}
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
        if (r.oid != 0) relations_by_oid_.emplace(r.oid, key);
        relations_.emplace(std::move(key), std::move(r));
    }
    function_count_ = functions.size();
    for (auto& f : functions) functions_[{f.schema, f.name}].push_back(std::move(f));
    for (const auto& [key, overloads] : functions_) {
        for (const auto& f : overloads) {
            if (f.oid) functions_by_oid_[f.oid] = &f;
        }
    }
    for (auto& o : operators) user_operators_.emplace(o.name, std::move(o));
}

const relation_info* catalog::relation(const std::string& schema, const std::string& name) const {
    const auto it = relations_.find({schema, name});
    return it == relations_.end() ? nullptr : &it->second;
}

const type_info* catalog::type(std::uint32_t oid) const {
    const auto it = types_.find(oid);
    return it == types_.end() ? nullptr : &it->second;
}

const type_info* catalog::type(const std::string& schema, const std::string& name) const {
    const auto it = type_names_.find({schema, name});
    return it == type_names_.end() ? nullptr : type(it->second);
}

bool catalog::name_printing(std::uint32_t oid) const { return name_printing_.contains(oid); }

const function_info* catalog::function(std::uint32_t oid) const {
    const auto it = functions_by_oid_.find(oid);
    return it == functions_by_oid_.end() ? nullptr : it->second;
}

void catalog::set_types(std::vector<type_info> types, std::map<std::uint32_t, std::vector<std::uint32_t>> attributes) {
    for (auto& t : types) {
        type_names_[{t.schema, t.name}] = t.oid;
        const auto oid = t.oid;
        types_.emplace(oid, std::move(t));
    }
    // Name-printing types, to a fixed point: reg* and aclitem (by OID, or by
    // their output function), then whatever is made of one.
    for (const auto& [oid, t] : types_) {
        const auto* out = function(t.output);
        if (builtins::name_printing_type(oid) ||
            (out && out->schema == "pg_catalog" &&
             (out->name == "aclitemout" || (out->name.starts_with("reg") && out->name.ends_with("out")))))
            name_printing_.insert(oid);
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (const auto& [oid, t] : types_) {
            if (name_printing_.contains(oid)) continue;
            bool np = (t.element && name_printing_.contains(t.element)) || (t.base && name_printing_.contains(t.base)) ||
                      (t.subtype && name_printing_.contains(t.subtype));
            if (!np && t.relation) {
                if (const auto it = attributes.find(t.relation); it != attributes.end())
                    np = std::any_of(it->second.begin(), it->second.end(),
                                     [&](std::uint32_t a) { return name_printing_.contains(a); });
            }
            if (np) changed = name_printing_.insert(oid).second || changed;
        }
    }
}

const relation_info* catalog::relation(std::uint32_t oid) const {
    const auto it = relations_by_oid_.find(oid);
    if (it == relations_by_oid_.end()) return nullptr;
    const auto r = relations_.find(it->second);
    return r == relations_.end() ? nullptr : &r->second;
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

std::set<std::string> comma_list(const std::string& text) {
    std::set<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto comma = text.find(',', start);
        out.insert(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

void read_roles(const catalog_rows& rows, catalog& into) {
    into.roles_checked = !rows.roles.empty();
    for (const auto& r : rows.roles) {
        auto& facts = into.roles[text(r, 0)];
        facts.exists = r.size() > 1 && r[1].has_value();
        facts.superuser = text(r, 1) == "t";
        facts.bypass_rls = text(r, 2) == "t";
        facts.create_role = text(r, 3) == "t";
        if (r.size() > 4 && r[4]) {
            facts.member_of.push_back(*r[4]);
            if (text(r, 5) == "t" || text(r, 6) == "t") facts.privileged_member_of.push_back(*r[4]);
        }
    }
    for (const auto& r : rows.privileges) {
        auto& facts = into.roles[text(r, 0)];
        if (r.size() < 6 || !r[2]) {
            facts.create_schemas[text(r, 1)] = text(r, 5) == "t";
            continue;
        }
        auto& rel = facts.relations[{text(r, 1), text(r, 2)}];
        if (r[3]) {
            rel.columns[*r[3]] = comma_list(text(r, 4));
        } else {
            rel.table = comma_list(text(r, 4));
            rel.owner = text(r, 5) == "t";
        }
    }
    for (const auto& r : rows.row_policies) {
        row_policy p;
        p.name = text(r, 2);
        p.permissive = text(r, 3) != "RESTRICTIVE";
        p.roles = parse_text_array(text(r, 4)).value_or(std::vector<std::string>{});
        p.command = text(r, 5);
        if (r.size() > 6) p.using_expression = r[6];
        if (r.size() > 7) p.check_expression = r[7];
        into.row_policies[{text(r, 0), text(r, 1)}].push_back(std::move(p));
    }
}

std::uint32_t oid_at(const row& r, std::size_t i) {
    return static_cast<std::uint32_t>(std::strtoul(text(r, i).c_str(), nullptr, 10));
}

std::vector<std::uint32_t> oid_list(const std::string& text) {
    std::vector<std::uint32_t> out;
    const char* at = text.c_str();
    while (*at) {
        char* end = nullptr;
        const auto v = std::strtoul(at, &end, 10);
        if (end == at) break;
        out.push_back(static_cast<std::uint32_t>(v));
        at = end;
    }
    return out;
}

}  // namespace

std::shared_ptr<const catalog> catalog_from_rows(const catalog_rows& rows) {
    std::vector<relation_info> rels;
    // A composite type's attributes (relkind c) are the type's, not a relation's.
    std::vector<relation_info> composites;
    for (const auto& r : rows.relations) {
        auto& into = first(r, 2, 'r') == 'c' ? composites : rels;
        if (into.empty() || into.back().schema != text(r, 0) || into.back().name != text(r, 1)) {
            relation_info info;
            info.schema = text(r, 0);
            info.name = text(r, 1);
            info.kind = first(r, 2, 'r');
            info.owner = text(r, 8);
            info.row_security = text(r, 9) == "t";
            info.force_row_security = text(r, 10) == "t";
            info.oid = oid_at(r, 11);
            info.row_type = oid_at(r, 12);
            info.has_subclass = text(r, 13) == "t";
            if (r.size() > 14 && r[14]) {
                // Unreadable: as if an index showed something (EXPLAIN is then refused).
                info.index_columns = parse_text_array(*r[14]).value_or(std::vector<std::string>{""});
            }
            if (r.size() > 16 && r[16]) {
                // "oid:attnum" each; unreadable: as if it read a column of every relation (0: unknown).
                const auto reads = parse_text_array(*r[16]);
                if (!reads) info.definition_reads.push_back({0, 0});
                for (const auto& item : reads.value_or(std::vector<std::string>{})) {
                    const auto colon = item.find(':');
                    info.definition_reads.push_back(
                        {static_cast<std::uint32_t>(std::strtoul(item.c_str(), nullptr, 10)),
                         static_cast<std::int16_t>(colon == std::string::npos ? 0 : std::atoi(item.c_str() + colon + 1))});
                }
            }
            into.push_back(std::move(info));
        }
        if (r.size() > 3 && r[3]) {
            into.back().columns.push_back(*r[3]);
            into.back().column_types.push_back(
                {*r[3], type_at(r, 4), type_at(r, 6), static_cast<std::int16_t>(r.size() > 15 ? oid_at(r, 15) : 0)});
        }
    }
    std::vector<type_info> types;
    for (const auto& r : rows.types) {
        type_info t;
        t.oid = oid_at(r, 0);
        t.schema = text(r, 1);
        t.name = text(r, 2);
        t.type = first(r, 3, 'b');
        t.category = first(r, 4, 'U');
        t.element = oid_at(r, 5);
        t.base = oid_at(r, 6);
        t.relation = oid_at(r, 7);
        t.subtype = oid_at(r, 8);
        t.input = oid_at(r, 9);
        t.output = oid_at(r, 10);
        t.receive = oid_at(r, 11);
        t.send = oid_at(r, 12);
        types.push_back(std::move(t));
    }
    // Each relation's (and composite type's) attribute types, by the relation's OID.
    std::map<std::pair<std::string, std::string>, std::uint32_t> type_oids;
    for (const auto& t : types) type_oids[{t.schema, t.name}] = t.oid;
    std::map<std::uint32_t, std::vector<std::uint32_t>> attributes;
    for (const auto* list : {&rels, &composites}) {
        for (const auto& rel : *list) {
            auto& into = attributes[rel.oid];
            for (const auto& c : rel.column_types) {
                const auto it = type_oids.find({c.type.schema, c.type.name});
                if (it != type_oids.end()) into.push_back(it->second);
            }
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
        f.oid = oid_at(r, 11);
        f.result_type = oid_at(r, 12);
        f.argument_types = oid_list(text(r, 13));
        f.out_types = oid_list(text(r, 14));
        fns.push_back(std::move(f));
    }
    std::vector<operator_info> ops;
    for (const auto& r : rows.operators)
        ops.push_back({text(r, 0), text(r, 1), text(r, 2), text(r, 3), type_at(r, 4), type_at(r, 6)});
    auto result = std::make_shared<catalog>(std::move(rels), std::move(fns), std::move(ops));
    result->set_types(std::move(types), std::move(attributes));
    read_roles(rows, *result);
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
    {"operators", &catalog_rows::operators}, {"domains", &catalog_rows::domains},
    {"casts", &catalog_rows::casts},         {"sequences", &catalog_rows::sequences},
    {"row_policies", &catalog_rows::row_policies}, {"roles", &catalog_rows::roles},
    {"privileges", &catalog_rows::privileges}, {"types", &catalog_rows::types}};

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
