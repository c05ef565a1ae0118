#include "discovery.hpp"

#include "discovery_sql.hpp"

#include <pgsieve/common/sql_text.hpp>
#include <pgsieve/parser/spans.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

namespace pgsieve::policy::detail {

namespace {

// Catalog relations scoped to the visible objects (discovery_sql.cpp has
// each one's filter; a unit test holds the two lists together).
constexpr std::string_view scoped_catalog[] = {
    "pg_class", "pg_namespace", "pg_attribute", "pg_attrdef", "pg_type", "pg_index", "pg_constraint",
    "pg_description", "pg_proc", "pg_roles", "pg_enum", "pg_inherits", "pg_trigger", "pg_rewrite", "pg_policy",
    "pg_statistic_ext", "pg_publication_rel", "pg_publication_namespace", "pg_partitioned_table", "pg_sequence",
    "pg_database", "pg_collation", "pg_operator", "pg_cast", "pg_aggregate", "pg_range", "pg_opclass",
    "pg_opfamily", "pg_amop", "pg_amproc", "pg_conversion", "pg_ts_config", "pg_ts_dict", "pg_ts_parser",
    "pg_ts_template", "pg_tables", "pg_views", "pg_matviews", "pg_indexes", "pg_policies"};
constexpr std::string_view scoped_information_schema[] = {
    "schemata", "tables", "views", "columns", "table_privileges", "role_table_grants", "column_privileges",
    "role_column_grants", "key_column_usage", "constraint_column_usage", "table_constraints",
    "constraint_table_usage", "referential_constraints", "check_constraints", "routines", "parameters", "triggers",
    "sequences", "view_table_usage", "view_column_usage", "domains"};

// Name no user object: access methods, languages, time zones, the
// session's own prepared statements and cursors…
constexpr std::string_view unscoped_catalog[] = {
    "pg_am", "pg_language", "pg_tablespace", "pg_extension", "pg_available_extensions", "pg_timezone_names",
    "pg_timezone_abbrevs", "pg_prepared_statements", "pg_cursors", "pg_publication"};
constexpr std::string_view unscoped_information_schema[] = {
    "character_sets", "collations", "collation_character_set_applicability", "enabled_roles", "applicable_roles",
    "administrable_role_authorizations", "information_schema_catalog_name", "sql_features",
    "sql_implementation_info", "sql_parts", "sql_sizing"};

template <std::size_t N>
bool in(const std::string_view (&list)[N], std::string_view name) {
    return std::find(std::begin(list), std::end(list), name) != std::end(list);
}

// How a helper function is scoped.
struct function_scope {
    enum class action {
        guard,     // the argument that names an object is kept only if the object is visible
        describe,  // obj_description / col_description: read the scoped descriptions
        lookup,    // to_regclass and kin: the result kept only if visible
        ancestors, // pg_partition_ancestors: a set of relations, the visible ones kept
        allow,     // names nothing
        refuse,    // cannot be scoped
    };
    std::string_view name;
    action what = action::refuse;
    int min_arguments = 0, max_arguments = 0;
    int argument = 0;  // guard: which argument names the object
    object_set set = object_set::relation;
};

using a = function_scope::action;
using s = object_set;

constexpr function_scope functions[] = {
    {"pg_get_indexdef", a::guard, 1, 3, 0, s::relation},
    {"pg_get_viewdef", a::guard, 1, 2, 0, s::relation_definition},
    {"pg_table_is_visible", a::guard, 1, 1, 0, s::relation},
    {"pg_relation_size", a::guard, 1, 2, 0, s::relation},
    {"pg_total_relation_size", a::guard, 1, 1, 0, s::relation},
    {"pg_table_size", a::guard, 1, 1, 0, s::relation},
    {"pg_indexes_size", a::guard, 1, 1, 0, s::relation},
    {"pg_get_partkeydef", a::guard, 1, 1, 0, s::relation_definition},
    {"pg_get_partition_constraintdef", a::guard, 1, 1, 0, s::relation},
    {"pg_relation_is_updatable", a::guard, 2, 2, 0, s::relation},
    {"pg_column_is_updatable", a::guard, 3, 3, 0, s::relation},
    {"pg_relation_is_publishable", a::guard, 1, 1, 0, s::relation},
    {"pg_relation_filenode", a::guard, 1, 1, 0, s::relation},
    {"pg_index_column_has_property", a::guard, 3, 3, 0, s::relation},
    {"pg_index_has_property", a::guard, 2, 2, 0, s::relation},
    {"pg_sequence_parameters", a::guard, 1, 1, 0, s::relation},
    {"has_table_privilege", a::guard, 2, 2, 0, s::relation},
    {"has_any_column_privilege", a::guard, 2, 2, 0, s::relation},
    {"has_sequence_privilege", a::guard, 2, 2, 0, s::relation},
    {"pg_get_expr", a::guard, 2, 3, 1, s::relation},
    {"pg_get_constraintdef", a::guard, 1, 2, 0, s::constraint},
    {"pg_get_triggerdef", a::guard, 1, 2, 0, s::trigger},
    {"pg_get_ruledef", a::guard, 1, 2, 0, s::rule},
    {"pg_get_statisticsobjdef", a::guard, 1, 1, 0, s::statistics},
    {"pg_get_statisticsobjdef_columns", a::guard, 1, 1, 0, s::statistics},
    {"pg_get_statisticsobjdef_expressions", a::guard, 1, 1, 0, s::statistics},
    {"pg_statistics_obj_is_visible", a::guard, 1, 1, 0, s::statistics},
    {"pg_get_functiondef", a::guard, 1, 1, 0, s::function_body},
    {"pg_get_function_arguments", a::guard, 1, 1, 0, s::function_signature},
    {"pg_get_function_result", a::guard, 1, 1, 0, s::function_signature},
    {"pg_get_function_identity_arguments", a::guard, 1, 1, 0, s::function_signature},
    {"pg_get_function_arg_default", a::guard, 2, 2, 0, s::function_signature},
    {"pg_function_is_visible", a::guard, 1, 1, 0, s::function},
    {"has_function_privilege", a::guard, 2, 2, 0, s::function},
    {"pg_type_is_visible", a::guard, 1, 1, 0, s::type},
    {"format_type", a::guard, 2, 2, 0, s::type},
    {"has_type_privilege", a::guard, 2, 2, 0, s::type},
    {"has_schema_privilege", a::guard, 2, 2, 0, s::schema},
    {"pg_get_userbyid", a::guard, 1, 1, 0, s::role},
    {"pg_operator_is_visible", a::guard, 1, 1, 0, s::operator_},
    {"pg_collation_is_visible", a::guard, 1, 1, 0, s::collation},
    {"obj_description", a::describe, 1, 2},
    {"col_description", a::describe, 2, 2},
    {"to_regclass", a::lookup, 1, 1, 0, s::relation},
    {"to_regtype", a::lookup, 1, 1, 0, s::type},
    {"to_regproc", a::lookup, 1, 1, 0, s::function},
    {"to_regprocedure", a::lookup, 1, 1, 0, s::function},
    {"to_regnamespace", a::lookup, 1, 1, 0, s::schema},
    {"to_regrole", a::lookup, 1, 1, 0, s::role},
    {"to_regoper", a::lookup, 1, 1, 0, s::operator_},
    {"to_regoperator", a::lookup, 1, 1, 0, s::operator_},
    {"to_regcollation", a::lookup, 1, 1, 0, s::collation},
    {"pg_partition_ancestors", a::ancestors, 1, 1, 0, s::relation},
    {"pg_get_keywords", a::allow},
    {"pg_options_to_table", a::allow, 1, 1},
    {"pg_column_size", a::allow, 1, 1},
    {"pg_indexam_has_property", a::allow, 2, 2},
    {"pg_get_catalog_foreign_keys", a::allow},
    // Cannot be scoped: shared objects, other roles, objects by class and
    // OID, a column named by text, relations a function chooses.
    {"shobj_description"}, {"pg_has_role"}, {"has_database_privilege"}, {"has_column_privilege"},
    {"has_foreign_data_wrapper_privilege"}, {"has_language_privilege"}, {"has_server_privilege"},
    {"has_tablespace_privilege"}, {"has_parameter_privilege"}, {"pg_get_serial_sequence"}, {"pg_database_size"},
    {"pg_describe_object"}, {"pg_identify_object"}, {"pg_identify_object_as_address"}, {"pg_get_object_address"},
    {"pg_get_publication_tables"}, {"pg_opclass_is_visible"}, {"pg_conversion_is_visible"},
    {"pg_ts_config_is_visible"}, {"pg_ts_dict_is_visible"}, {"pg_ts_parser_is_visible"},
    {"pg_ts_template_is_visible"}, {"pg_partition_root"}, {"pg_partition_tree"}, {"pg_filenode_relation"},
    {"pg_get_replica_identity_index"}, {"regclass"}, {"regclassin"}, {"regclassrecv"}, {"regtypein"},
    {"regtyperecv"}, {"regprocin"}, {"regprocrecv"}, {"regprocedurein"}, {"regprocedurerecv"}, {"regnamespacein"},
    {"regnamespacerecv"}, {"regrolein"}, {"regrolerecv"}, {"regoperin"}, {"regoperrecv"}, {"regoperatorin"},
    {"regoperatorrecv"}, {"regcollationin"}, {"regcollationrecv"},
};

const function_scope* function_of(std::string_view name) {
    for (const auto& f : functions) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

// The types whose output prints an object's name, and whose objects.
struct name_type {
    std::string_view name;
    object_set set;
};
constexpr name_type name_types[] = {
    {"regclass", s::relation}, {"regtype", s::type},           {"regproc", s::function},
    {"regprocedure", s::function}, {"regnamespace", s::schema}, {"regrole", s::role},
    {"regoper", s::operator_}, {"regoperator", s::operator_},   {"regcollation", s::collation},
};

const name_type* name_type_of(const std::vector<std::string>& name) {
    if (name.empty() || name.size() > 2 || (name.size() == 2 && name[0] != "pg_catalog")) return nullptr;
    for (const auto& t : name_types) {
        if (t.name == name.back()) return &t;
    }
    return nullptr;
}

refusal cannot_scope(std::string what, int location) {
    return refusal{rule::catalog, fmt::format("pgsieve: {} cannot be scoped to what the policy grants", what),
                   "rule: catalog: introspection shows the granted objects only; what cannot be limited to them is "
                   "refused",
                   "query information_schema or the pg_catalog relations directly", location};
}

// A function call that names a pg_catalog helper: qualified with
// pg_catalog, or unqualified with no user function of that name ahead of
// pg_catalog on the path.
bool is_catalog_function(const parser::function_ref& f, const context& ctx, const std::vector<std::string>& path) {
    if (f.name.size() == 2) return f.name[0] == "pg_catalog";
    if (f.name.size() != 1) return false;
    for (const auto& schema : path) {
        if (schema == "pg_catalog") return true;
        if (ctx.cat.functions(schema, f.name[0])) return false;
    }
    return true;
}

}  // namespace

discovery_relation discovery_relation_rule(std::string_view schema, std::string_view name) {
    if (schema == "pg_catalog") {
        if (in(scoped_catalog, name)) return discovery_relation::scoped;
        if (in(unscoped_catalog, name)) return discovery_relation::unscoped;
    } else if (schema == "information_schema") {
        if (in(scoped_information_schema, name)) return discovery_relation::scoped;
        if (in(unscoped_information_schema, name)) return discovery_relation::unscoped;
    }
    return discovery_relation::refused;
}

std::vector<std::pair<std::string, std::string>> scoped_discovery_relations() {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto n : scoped_catalog) out.emplace_back("pg_catalog", n);
    for (const auto n : scoped_information_schema) out.emplace_back("information_schema", n);
    return out;
}

bool rewritten_relation(const relation_info& rel, const context& ctx) {
    return ctx.policy.catalog == config::catalog_access::introspection &&
           discovery_relation_rule(rel.schema, rel.name) == discovery_relation::scoped &&
           !ctx.policy.tables.contains(config::qualified_name{rel.schema, rel.name});
}

bool discovery_function(std::string_view name) { return function_of(name) != nullptr; }

bool discovery_function_scoped(std::string_view name) {
    const auto* f = function_of(name);
    return f && f->what != a::refuse;
}

bool name_printing_type(const std::vector<std::string>& name) { return name_type_of(name) != nullptr; }

verdict discovery_sites(const parser::statement_facts& f, const std::vector<resolved_relation>& relations,
                        const context& ctx, const std::vector<std::string>& path, std::vector<discovery_site>& out) {
    const auto scoped = [&](const std::string& schema, const std::string& name) {
        return discovery_relation_rule(schema, name) == discovery_relation::scoped &&
               !ctx.policy.tables.contains(config::qualified_name{schema, name});  // granted outright: as is
    };
    // Catalog relations: spliced where they are FROM items.
    std::map<int, const resolved_relation*> by_location;
    for (const auto& r : relations) by_location[r.location] = &r;
    std::vector<int> spliced;
    for (const auto& q : f.queries) {
        for (const auto& e : q.ranges) {
            if (e.type != parser::range_entry::kind::relation) continue;
            const auto it = by_location.find(e.relation.location);
            if (it == by_location.end() || !scoped(it->second->schema, it->second->name)) continue;
            out.push_back({discovery_site::kind::relation, e.relation.location, it->second->schema, it->second->name,
                           !e.alias.empty(), -1});
            spliced.push_back(e.relation.location);
        }
    }
    for (const auto& r : relations) {
        if (scoped(r.schema, r.name) && std::find(spliced.begin(), spliced.end(), r.location) == spliced.end())
            return cannot_scope(fmt::format("{}.{} outside a FROM clause", r.schema, r.name), r.location);
    }
    // Helpers and conversions.
    for (const auto& fn : f.functions) {
        if (!is_catalog_function(fn, ctx, path)) continue;
        const auto* scope = function_of(fn.name.back());
        if (!scope) continue;
        const auto name = "pg_catalog." + fn.name.back();
        if (scope->what == a::refuse) return cannot_scope("function " + name, fn.location);
        if (fn.arguments < scope->min_arguments || fn.arguments > scope->max_arguments || fn.star || fn.variadic)
            return cannot_scope(fmt::format("function {} with {} arguments", name, fn.arguments), fn.location);
        if (scope->what == a::allow) continue;
        out.push_back({discovery_site::kind::function, fn.location, "pg_catalog", fn.name.back(), false, -1});
    }
    for (const auto& t : f.types) {
        const auto* type = name_type_of(t.name);
        if (!type) continue;
        if (t.cast_location < 0 || t.array)
            return cannot_scope(fmt::format("a value of type {}{}", type->name, t.array ? "[]" : " outside a cast"),
                                t.location);
        out.push_back({discovery_site::kind::conversion, t.cast_location, "pg_catalog", std::string(type->name), false,
                       t.operand_start});
    }
    return std::nullopt;
}

namespace {

// One rewrite: the text of `whole` becomes make(texts of `parts`), each
// part's text itself rewritten by the sites inside it.
struct splice {
    parser::span whole;
    std::vector<parser::span> parts;
    std::function<std::string(const std::vector<std::string>&)> make;
};

bool inside(parser::span inner, parser::span outer) { return inner.start >= outer.start && inner.end <= outer.end; }

// The text of `range` with the splices inside it applied; false when two
// overlap without nesting (then the rewrite is refused).
bool render(std::string_view sql, parser::span range, const std::vector<splice>& all, std::size_t from, std::string& out) {
    int at = range.start;
    for (std::size_t i = from; i < all.size(); ++i) {
        const auto& s = all[i];
        if (s.whole.start < at) {
            if (s.whole.start >= range.start && s.whole.end <= at) continue;  // inside one already rendered
            if (s.whole.start < range.start) continue;
            return false;
        }
        if (s.whole.start >= range.end) break;
        if (!inside(s.whole, range)) return false;
        out.append(sql.substr(at, s.whole.start - at));
        std::vector<std::string> texts;
        for (const auto& p : s.parts) {
            if (!inside(p, s.whole)) return false;
            std::string t;
            if (!render(sql, p, all, i + 1, t)) return false;
            texts.push_back(std::move(t));
        }
        // Splices inside the whole but outside every part cannot be kept.
        for (std::size_t j = i + 1; j < all.size() && all[j].whole.start < s.whole.end; ++j) {
            if (!std::any_of(s.parts.begin(), s.parts.end(), [&](const auto& p) { return inside(all[j].whole, p); }))
                return false;
        }
        out += s.make(texts);
        at = s.whole.end;
    }
    out.append(sql.substr(at, range.end - at));
    return true;
}

bool digits(std::string_view literal) {
    if (literal.size() < 3 || literal.front() != '\'' || literal.back() != '\'') return false;
    const auto inner = literal.substr(1, literal.size() - 2);
    return !inner.empty() && std::all_of(inner.begin(), inner.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

namespace {

// Where the WITH list of the shared sets goes: after the statement's own
// WITH [RECURSIVE], or before its first word. Nullopt — each use then
// carries its set — where a name the statement writes could be one of
// those CTEs' (pgsieve_…, or spelled with Unicode escapes: a CTE of the
// client's by that name, nearer, would be read in its place), or the
// statement does not start as a plain query.
struct with_site {
    std::size_t at;
    bool after_with;
};

std::optional<with_site> shared_sets_site(std::string_view sql, std::size_t start) {
    if (start >= sql.size()) return std::nullopt;
    // The query itself (a PREPARE's name before it names no relation).
    std::string lower(sql.substr(start));
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("pgsieve_") != std::string::npos || lower.find("u&") != std::string::npos) return std::nullopt;
    std::size_t p = 0;
    const auto skip_space = [&]() -> bool {
        for (;;) {
            while (p < lower.size() && std::isspace(static_cast<unsigned char>(lower[p]))) ++p;
            if (lower.compare(p, 2, "--") == 0) {
                p = lower.find('\n', p);
                if (p == std::string::npos) return false;
            } else if (lower.compare(p, 2, "/*") == 0) {
                int depth = 0;
                do {
                    if (lower.compare(p, 2, "/*") == 0) ++depth, p += 2;
                    else if (lower.compare(p, 2, "*/") == 0) --depth, p += 2;
                    else ++p;
                } while (depth > 0 && p < lower.size());
                if (depth > 0) return false;
            } else {
                return p < lower.size();
            }
        }
    };
    const auto word = [&] {
        std::size_t end = p;
        while (end < lower.size() && std::isalpha(static_cast<unsigned char>(lower[end]))) ++end;
        return std::string_view(lower).substr(p, end - p);
    };
    if (!skip_space()) return std::nullopt;
    const auto first = word();
    if (first == "with") {
        p += first.size();
        const auto after_with = p;
        if (!skip_space()) return std::nullopt;
        if (word() == "recursive") return with_site{start + p + 9, true};
        return with_site{start + after_with, true};
    }
    if (first == "select" || first == "table" || first == "values" || lower[p] == '(') return with_site{start + p, false};
    return std::nullopt;
}

}  // namespace

expected<std::string, refusal> scoped_text(std::string_view sql, std::vector<discovery_site> sites, const context& ctx,
                                           std::optional<std::size_t> statement_start) {
    const parser::token_index tokens(sql);
    if (!tokens.ok()) return unexpected(cannot_scope("this statement", 0));
    const auto shared = statement_start ? shared_sets_site(sql, *statement_start) : std::nullopt;
    const visible_sets v(ctx, shared.has_value());
    // The OID an argument names, if visible; NULL otherwise. A string names
    // the object (or gives its OID as digits), as the server would read it.
    const auto guard = [&](parser::span operand, const std::string& text, object_set set) {
        std::string oid = fmt::format("({})::pg_catalog.oid", text);
        if (tokens.is_string_literal(operand) && !digits(sql.substr(operand.start, operand.end - operand.start))) {
            if (const char* lookup = name_lookup_function(set)) oid = fmt::format("{}({})", lookup, text);
        }
        // The operand is evaluated once: a volatile one cannot show one OID and pass another.
        return fmt::format("(SELECT g.o FROM (SELECT {} AS o) AS g WHERE {})", oid, v.visible(set, "g.o"));
    };
    std::vector<splice> splices;
    for (const auto& site : sites) {
        const auto where = site.location;
        switch (site.what) {
            case discovery_site::kind::relation: {
                const auto name = tokens.name_at(site.location);
                if (!name) return unexpected(cannot_scope(site.schema + "." + site.name + " written this way", where));
                std::string select;
                if (site.schema == "pg_catalog" && site.name == "pg_description") {
                    select = fmt::format("SELECT d.* FROM ({}) AS d OFFSET 0", v.descriptions());
                } else {
                    const auto filter = relation_filter(site.schema, site.name, v);
                    if (!filter) return unexpected(cannot_scope(site.schema + "." + site.name, where));
                    // Columns of a name-printing type keep only visible objects' names.
                    std::optional<std::string> columns;
                    if (const auto* rel = ctx.cat.relation(site.schema, site.name))
                        columns = guarded_select_list(*rel, ctx.cat, v);
                    if (columns && columns->empty())
                        return unexpected(cannot_scope(site.schema + "." + site.name + " (a column of a name-printing type)",
                                                       where));
                    select = fmt::format("SELECT {} FROM {} AS o WHERE {} OFFSET 0", columns ? *columns : "o.*",
                                         sql_qualified(site.schema, site.name), *filter);
                }
                const auto alias = site.aliased ? std::string() : " AS " + sql_identifier(site.name);
                splices.push_back({*name, {}, [text = "(" + select + ")" + alias](const auto&) { return text; }});
                break;
            }
            case discovery_site::kind::function: {
                const auto* scope = function_of(site.name);
                const auto call = tokens.call_at(site.location);
                if (!scope || !call || call->arguments.size() < static_cast<std::size_t>(scope->min_arguments))
                    return unexpected(cannot_scope("function pg_catalog." + site.name + " written this way", where));
                const auto set = scope->set;
                switch (scope->what) {
                    case a::guard: {
                        const auto arg = call->arguments[scope->argument];
                        splices.push_back({arg, {arg}, [&guard, arg, set](const auto& t) { return guard(arg, t[0], set); }});
                        break;
                    }
                    case a::lookup: {
                        // The whole call: its result kept when visible, of the same type.
                        const auto type = fmt::format("pg_catalog.reg{}", site.name.substr(std::string_view("to_reg").size()));
                        splices.push_back({call->whole, {call->whole}, [&v, set, type](const auto& t) {
                                               return fmt::format("(SELECT g.o FROM (SELECT ({})::pg_catalog.oid AS o) "
                                                                  "AS g WHERE {})::{}",
                                                                  t[0], v.visible(set, "g.o"), type);
                                           }});
                        break;
                    }
                    case a::ancestors: {
                        const auto arg = call->arguments[0];
                        splices.push_back({call->whole, {arg}, [&v, &guard, arg](const auto& t) {
                                               return fmt::format(
                                                   "pg_catalog.unnest(ARRAY(SELECT r.r FROM pg_catalog.pg_partition_ancestors({}) "
                                                   "AS r(r) WHERE {}))",
                                                   guard(arg, t[0], object_set::relation),
                                                   v.visible(object_set::relation, "r.r::pg_catalog.oid"));
                                           }});
                        break;
                    }
                    case a::describe: {
                        const bool column = site.name == "col_description";
                        splices.push_back({call->whole, call->arguments, [&v, column](const auto& t) {
                                               std::string where;
                                               if (column)
                                                   where = fmt::format("d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass "
                                                                       "AND d.objsubid = ({})",
                                                                       t[1]);
                                               else if (t.size() == 2)
                                                   where = fmt::format(
                                                       "d.classoid = (SELECT c.oid FROM pg_catalog.pg_class AS c WHERE "
                                                       "c.relname = ({})::pg_catalog.name AND c.relnamespace = 11) AND "
                                                       "d.objsubid = 0",
                                                       t[1]);
                                               else
                                                   where = "d.objsubid = 0";
                                               return fmt::format("(SELECT d.description FROM ({}) AS d WHERE d.objoid = "
                                                                  "({})::pg_catalog.oid AND {} LIMIT 1)",
                                                                  v.descriptions(), t[0], where);
                                           }});
                        break;
                    }
                    case a::allow:
                    case a::refuse: break;
                }
                break;
            }
            case discovery_site::kind::conversion: {
                const auto cast = tokens.cast_at(site.location, site.operand_start);
                const auto* type = name_type_of({site.name});
                if (!cast || !type) return unexpected(cannot_scope("a conversion to " + site.name + " written this way", where));
                const auto set = type->set;
                if (cast->syntax == parser::token_index::cast::form::typed_literal) {
                    const auto operand = cast->operand;
                    const auto name = site.name;
                    splices.push_back({cast->whole, {operand}, [&guard, operand, set, name](const auto& t) {
                                           return fmt::format("({})::pg_catalog.{}", guard(operand, t[0], set), name);
                                       }});
                } else {
                    const auto operand = cast->operand;
                    splices.push_back({operand, {operand}, [&guard, operand, set](const auto& t) {
                                           return guard(operand, t[0], set);
                                       }});
                }
                break;
            }
        }
    }
    std::sort(splices.begin(), splices.end(), [](const splice& x, const splice& y) {
        return x.whole.start != y.whole.start ? x.whole.start < y.whole.start : x.whole.end > y.whole.end;
    });
    std::string out;
    if (!render(sql, {0, static_cast<int>(sql.size())}, splices, 0, out))
        return unexpected(cannot_scope("this combination of catalog references", 0));
    if (const auto entries = v.with_entries(); shared && !entries.empty()) {
        // Every splice lies after the statement's first word (or its WITH).
        if (out.compare(0, shared->at, sql.substr(0, shared->at)) != 0)
            return unexpected(cannot_scope("this statement", 0));
        out.insert(shared->at, shared->after_with ? " " + entries + "," : "WITH " + entries + " ");
    }
    return out;
}

}  // namespace pgsieve::policy::detail
