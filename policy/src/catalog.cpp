#include <pgsieve/policy/catalog.hpp>

namespace pgsieve::policy {

namespace catalog_sql {
const char* const relations =
    "SELECT n.nspname, c.relname, c.relkind, a.attname "
    "FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') "
    "ORDER BY n.nspname, c.relname, a.attnum";
const char* const functions =
    "SELECT n.nspname, p.proname, p.provolatile, p.prokind "
    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace";
const char* const operators =
    "SELECT n.nspname, o.oprname, fn.nspname, f.proname "
    "FROM pg_catalog.pg_operator o "
    "JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace "
    "JOIN pg_catalog.pg_proc f ON f.oid = o.oprcode "
    "JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace "
    "WHERE n.nspname <> 'pg_catalog'";
const char* const role =
    "SELECT r.rolsuper, r.rolbypassrls, n.nspname, c.relname "
    "FROM pg_catalog.pg_roles r "
    "LEFT JOIN pg_catalog.pg_class c ON c.relowner = r.oid AND c.relkind IN ('r', 'v', 'm', 'f', 'p') "
    "LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE r.rolname = current_user";
}  // namespace catalog_sql

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

const relation_info* catalog::resolve_relation(const std::string& name,
                                               const std::vector<std::string>& search_path) const {
    if (const auto* r = relation("pg_catalog", name)) return r;
    for (const auto& schema : search_path) {
        if (const auto* r = relation(schema, name)) return r;
    }
    return nullptr;
}

const std::vector<function_info>* catalog::functions(const std::string& schema, const std::string& name) const {
    const auto it = functions_.find({schema, name});
    return it == functions_.end() ? nullptr : &it->second;
}

const std::vector<function_info>* catalog::resolve_function(const std::string& name,
                                                            const std::vector<std::string>& search_path) const {
    if (const auto* f = functions("pg_catalog", name)) return f;
    for (const auto& schema : search_path) {
        if (const auto* f = functions(schema, name)) return f;
    }
    return nullptr;
}

std::vector<const operator_info*> catalog::user_operators(const std::string& name) const {
    std::vector<const operator_info*> out;
    const auto [begin, end] = user_operators_.equal_range(name);
    for (auto it = begin; it != end; ++it) out.push_back(&it->second);
    return out;
}

std::shared_ptr<const catalog> catalog_from_rows(const std::vector<row>& relations, const std::vector<row>& functions,
                                                 const std::vector<row>& operators, const std::vector<row>& role) {
    auto text = [](const row& r, std::size_t i) { return i < r.size() && r[i] ? *r[i] : std::string(); };
    std::vector<relation_info> rels;
    for (const auto& r : relations) {
        if (rels.empty() || rels.back().schema != text(r, 0) || rels.back().name != text(r, 1)) {
            relation_info info;
            info.schema = text(r, 0);
            info.name = text(r, 1);
            info.kind = text(r, 2).empty() ? 'r' : text(r, 2)[0];
            rels.push_back(std::move(info));
        }
        if (r.size() > 3 && r[3]) rels.back().columns.push_back(*r[3]);
    }
    std::vector<function_info> fns;
    for (const auto& r : functions) {
        function_info f;
        f.schema = text(r, 0);
        f.name = text(r, 1);
        f.volatility = text(r, 2).empty() ? 'v' : text(r, 2)[0];
        f.kind = text(r, 3).empty() ? 'f' : text(r, 3)[0];
        fns.push_back(std::move(f));
    }
    std::vector<operator_info> ops;
    for (const auto& r : operators) ops.push_back({text(r, 0), text(r, 1), text(r, 2), text(r, 3)});
    auto result = std::make_shared<catalog>(std::move(rels), std::move(fns), std::move(ops));
    for (const auto& r : role) {
        result->upstream_role.superuser = text(r, 0) == "t";
        result->upstream_role.bypass_rls = text(r, 1) == "t";
        if (r.size() > 3 && r[2] && r[3]) result->upstream_role.owned.emplace_back(*r[2], *r[3]);
    }
    return result;
}

}  // namespace pgsieve::policy
