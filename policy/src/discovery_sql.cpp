#include "discovery_sql.hpp"

#include "check_references.hpp"

#include <pgsieve/common/sql_text.hpp>

#include <fmt/format.h>

namespace pgsieve::policy::detail {

namespace {

std::string text_array(const std::vector<std::string>& items) {
    std::string out = "ARRAY[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + quote_literal(items[i]);
    return out + "]::pg_catalog.text[]";
}

// An array of what `select` returns (one column), computed once per
// statement; empty (not NULL) when there is nothing. The cast makes
// `x = ANY (…)` search the array (without it, `ANY ((SELECT …))` would be a
// sub-query of arrays).
std::string oids(std::string_view select) {
    return fmt::format("(SELECT COALESCE(pg_catalog.array_agg(s.o), '{{}}') FROM ({}) AS s(o))::pg_catalog.oid[]",
                       select);
}
std::string texts(std::string_view select) {
    return fmt::format("(SELECT COALESCE(pg_catalog.array_agg(s.t), '{{}}') FROM ({}) AS s(t))::pg_catalog.text[]",
                       select);
}

// OIDs of the named relations that exist (to_regclass: never an error).
std::string relations_named(const std::vector<std::string>& names) {
    return oids(fmt::format("SELECT pg_catalog.to_regclass(n)::pg_catalog.oid FROM pg_catalog.unnest({}) AS n "
                            "WHERE pg_catalog.to_regclass(n) IS NOT NULL",
                            text_array(names)));
}

// An unambiguous key for a qualified name: quote_ident of each part.
std::string key(std::initializer_list<std::string_view> parts) {
    std::string out = "pg_catalog.concat(";
    bool first = true;
    for (const auto p : parts) {
        out += fmt::format("{}pg_catalog.quote_ident({})", first ? "" : ", '.', ", p);
        first = false;
    }
    return out + ")";
}

constexpr std::string_view builtin_schemas = "('pg_catalog', 'information_schema')";

constexpr std::size_t index(object_set k) { return static_cast<std::size_t>(k); }

}  // namespace

std::string visible_sets::share(std::string_view name, std::string set, std::string_view type) {
    if (!shared_ || set.starts_with("'")) return set;  // not shared, or a literal
    ctes_.push_back(fmt::format("pgsieve_{} AS MATERIALIZED (SELECT {} AS v)", name, set));
    // The cast keeps `x = ANY (…)` a search of the array (see oids()).
    return fmt::format("(SELECT s.v FROM pgsieve_{} AS s)::{}", name, type);
}

void visible_sets::share_user(object_set kind, std::string_view name) {
    users_[index(kind)] = share(name, std::move(users_[index(kind)]), "pg_catalog.oid[]");
}

std::string visible_sets::with_entries() const {
    std::string out;
    for (const auto& c : ctes_) out += (out.empty() ? "" : ", ") + c;
    return out;
}

visible_sets::visible_sets(const context& ctx, bool shared) : shared_(shared) {
    // What the policy grants, worked out against the catalog.
    std::vector<std::string> granted, all_columns, pair_tables, pair_columns;
    struct description {
        std::string relation;
        std::string column;  // empty: the relation's own
        std::string text;    // an SQL expression
    };
    std::vector<description> described;
    std::vector<std::string> masked_tables, masked_columns;
    for (const auto& [name, grant] : ctx.policy.tables) {
        const auto* rel = ctx.cat.relation(name.schema, name.name);
        if (!rel) continue;
        const auto qualified = sql_qualified(rel->schema, rel->name);
        granted.push_back(qualified);
        std::vector<std::string> visible;
        for (const auto& c : rel->columns) {
            if (column_rule(&grant, *rel, c, ctx).empty()) visible.push_back(c);
        }
        if (visible.size() == rel->columns.size()) {
            all_columns.push_back(qualified);
        } else {
            for (const auto& c : visible) {
                pair_tables.push_back(qualified);
                pair_columns.push_back(c);
            }
        }
        if (!grant.description.empty()) described.push_back({qualified, {}, quote_literal(grant.description)});
        for (const auto& c : visible) {
            const auto text = grant.column_descriptions.find(c);
            const auto mask = ctx.policy.masks.find(config::column_name{{rel->schema, rel->name}, c});
            if (mask != ctx.policy.masks.end()) {
                // The model is told what it will get: the description, then "(masked: hash)".
                masked_tables.push_back(qualified);
                masked_columns.push_back(c);
                const auto described_as =
                    text != grant.column_descriptions.end()
                        ? quote_literal(text->second)
                        : fmt::format("pg_catalog.col_description(pg_catalog.to_regclass({})::pg_catalog.oid, "
                                      "(SELECT a.attnum::pg_catalog.int4 FROM pg_catalog.pg_attribute AS a WHERE "
                                      "a.attrelid = pg_catalog.to_regclass({})::pg_catalog.oid AND a.attname = "
                                      "{}::pg_catalog.name))",
                                      quote_literal(qualified), quote_literal(qualified), quote_literal(c));
                described.push_back({qualified, c,
                                     fmt::format("pg_catalog.concat_ws(' ', {}, {})", described_as,
                                                 quote_literal(fmt::format("(masked: {})",
                                                                           config::to_string(mask->second))))});
            } else if (text != grant.column_descriptions.end()) {
                described.push_back({qualified, c, quote_literal(text->second)});
            }
        }
    }
    rel_ = share("rel", relations_named(granted), "pg_catalog.oid[]");
    allcols_ = share("allcols", relations_named(all_columns), "pg_catalog.oid[]");
    colpairs_ = share("colpairs", texts(fmt::format(
        "SELECT pg_catalog.concat(a.attrelid, ':', a.attnum) FROM pg_catalog.pg_attribute AS a "
        "JOIN ROWS FROM (pg_catalog.unnest({}), pg_catalog.unnest({})) AS v(t, c) "
        "ON a.attrelid = pg_catalog.to_regclass(v.t)::pg_catalog.oid AND a.attname = v.c::pg_catalog.name",
        text_array(pair_tables), text_array(pair_columns))), "pg_catalog.text[]");
    masks_ = !masked_tables.empty();
    masked_pairs_ = masked_tables.empty()
                        ? std::string("'{}'::pg_catalog.text[]")
                        : texts(fmt::format(
                              "SELECT pg_catalog.concat(a.attrelid, ':', a.attnum) FROM pg_catalog.pg_attribute AS a "
                              "JOIN ROWS FROM (pg_catalog.unnest({}), pg_catalog.unnest({})) AS v(t, c) "
                              "ON a.attrelid = pg_catalog.to_regclass(v.t)::pg_catalog.oid AND a.attname = "
                              "v.c::pg_catalog.name",
                              text_array(masked_tables), text_array(masked_columns)));
    masked_pairs_ = share("masked_pairs", std::move(masked_pairs_), "pg_catalog.text[]");
    masked_names_ = masked_tables.empty()
                        ? std::string("'{}'::pg_catalog.text[]")
                        : texts(fmt::format(
                              "SELECT {} FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_class AS c ON c.oid = "
                              "a.attrelid JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                              "WHERE pg_catalog.concat(a.attrelid, ':', a.attnum) = ANY ({})",
                              key({"n.nspname", "c.relname", "a.attname"}), masked_pairs_));
    masked_names_ = share("masked_names", std::move(masked_names_), "pg_catalog.text[]");
    if (ctx.policy.functions.empty()) {
        functions_ = "'{}'::pg_catalog.oid[]";
    } else {
        std::string pairs;
        for (const auto& f : ctx.policy.functions)
            pairs += fmt::format("{}({}, {})", pairs.empty() ? "" : ", ", quote_literal(f.schema), quote_literal(f.name));
        functions_ = oids(fmt::format(
            "SELECT p.oid FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace "
            "WHERE (n.nspname::pg_catalog.text, p.proname::pg_catalog.text) IN (VALUES {})",
            pairs));
    functions_ = share("functions", std::move(functions_), "pg_catalog.oid[]");
    }
    const auto& rel = rel_;
    const auto& fns = functions_;
    const auto column_types = fmt::format(
        "SELECT a.atttypid FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = ANY ({}) AND a.attnum > 0 AND {}", rel,
        visible_column("a.attrelid", "a.attnum"));
    // An index on a granted relation is visible when every column it covers
    // is, and it has no expression or predicate (they could name others).
    // So is a sequence a visible column owns (serial, identity): its name
    // is in the column's default.
    users_[index(object_set::relation)] = oids(fmt::format(
        "SELECT r.o FROM pg_catalog.unnest({0}) AS r(o) UNION ALL "
        "SELECT i.indexrelid FROM pg_catalog.pg_index AS i WHERE i.indrelid = ANY ({0}) AND i.indexprs IS NULL "
        "AND i.indpred IS NULL AND NOT EXISTS (SELECT FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) AS k(n) "
        "WHERE NOT {1}) UNION ALL "
        "SELECT d.objid FROM pg_catalog.pg_depend AS d JOIN pg_catalog.pg_class AS s ON s.oid = d.objid "
        "AND s.relkind = 'S' WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
        "AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') "
        "AND d.refobjid = ANY ({0}) AND d.refobjsubid > 0 AND {2}",
        rel, visible_column("i.indrelid", "k.n"), visible_column("d.refobjid", "d.refobjsubid")));
    share_user(object_set::relation, "relation");
    users_[index(object_set::function)] = fns;
    users_[index(object_set::type)] = oids(fmt::format(
        "SELECT t.oid FROM pg_catalog.pg_type AS t WHERE t.typrelid = ANY ({0}) "
        "OR t.oid IN ({1}) OR t.typelem IN ({1}) "
        "OR t.typelem IN (SELECT r.oid FROM pg_catalog.pg_type AS r WHERE r.typrelid = ANY ({0})) "
        "OR t.oid IN (SELECT p.prorettype FROM pg_catalog.pg_proc AS p WHERE p.oid = ANY ({2})) "
        "OR t.oid IN (SELECT pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) FROM pg_catalog.pg_proc AS p "
        "WHERE p.oid = ANY ({2}))",
        rel, column_types, fns));
    share_user(object_set::type, "type");
    // Schemas: PostgreSQL's two, and those holding a granted object (public
    // is not shown for nothing).
    users_[index(object_set::schema)] = oids(fmt::format(
        "SELECT n.oid FROM pg_catalog.pg_namespace AS n WHERE n.nspname IN {} "
        "OR n.oid IN (SELECT c.relnamespace FROM pg_catalog.pg_class AS c WHERE c.oid = ANY ({})) "
        "OR n.oid IN (SELECT p.pronamespace FROM pg_catalog.pg_proc AS p WHERE p.oid = ANY ({}))",
        builtin_schemas, rel, fns));
    share_user(object_set::schema, "schema");
    users_[index(object_set::role)] = oids(fmt::format(
        "SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname = CURRENT_USER "
        "OR r.oid IN (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = ANY ({})) "
        "OR r.oid IN (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.oid = ANY ({})) "
        "OR r.oid IN (SELECT p.proowner FROM pg_catalog.pg_proc AS p WHERE p.oid = ANY ({}))",
        rel, users_[index(object_set::schema)], fns));
    share_user(object_set::role, "role");
    users_[index(object_set::operator_)] = oids(fmt::format(
        "SELECT o.oid FROM pg_catalog.pg_operator AS o WHERE o.oprcode::pg_catalog.oid = ANY ({})", fns));
    share_user(object_set::operator_, "operator");
    users_[index(object_set::collation)] = oids(fmt::format(
        "SELECT a.attcollation FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = ANY ({})", rel));
    share_user(object_set::collation, "collation");
    // A constraint is visible when every column it names is, on both sides
    // of a foreign key, its domain (if any) is, and its definition names
    // nothing hidden.
    users_[index(object_set::constraint)] = oids(fmt::format(
        "SELECT o.oid FROM pg_catalog.pg_constraint AS o WHERE (o.conrelid <> 0 OR o.contypid <> 0) "
        "AND (o.conrelid = 0 OR (o.conrelid = ANY ({0}) AND NOT EXISTS (SELECT FROM pg_catalog.unnest(o.conkey) AS k(n) "
        "WHERE NOT {1}))) "
        "AND (o.confrelid = 0 OR (o.confrelid = ANY ({0}) AND NOT EXISTS (SELECT FROM pg_catalog.unnest(o.confkey) "
        "AS k(n) WHERE NOT {2}))) "
        "AND (o.contypid = 0 OR {3}) AND {4}",
        rel, visible_column("o.conrelid", "k.n"), visible_column("o.confrelid", "k.n"),
        visible(object_set::type, "o.contypid"), depends_visible("pg_constraint", "o.oid")));
    share_user(object_set::constraint, "constraint");
    // Triggers name their function; rules (a view's query) what they read.
    users_[index(object_set::trigger)] =
        oids(fmt::format("SELECT o.oid FROM pg_catalog.pg_trigger AS o WHERE {} AND {}",
                         visible(object_set::relation, "o.tgrelid"), depends_visible("pg_trigger", "o.oid")));
    share_user(object_set::trigger, "trigger");
    users_[index(object_set::rule)] =
        oids(fmt::format("SELECT o.oid FROM pg_catalog.pg_rewrite AS o WHERE {} AND {}",
                         visible(object_set::relation, "o.ev_class"), depends_visible("pg_rewrite", "o.oid")));
    share_user(object_set::rule, "rule");
    // A relation's definition (a view's query, a partition key) is shown
    // when each of its rules is and what it depends on is visible.
    users_[index(object_set::relation_definition)] = oids(fmt::format(
        "SELECT r.o FROM pg_catalog.unnest({}) AS r(o) WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_rewrite AS w "
        "WHERE w.ev_class = r.o AND NOT (w.oid = ANY ({}))) AND {}",
        user(object_set::relation), user(object_set::rule), depends_visible("pg_class", "r.o")));
    share_user(object_set::relation_definition, "relation_definition");
    // A function's signature prints its argument defaults; its body can
    // name anything and PostgreSQL records nothing of a PL/pgSQL body's
    // reads: the policy's functions' bodies are not shown (built-ins' are).
    users_[index(object_set::function_signature)] = oids(fmt::format(
        "SELECT f.o FROM pg_catalog.unnest({}) AS f(o) WHERE {}", fns, depends_visible("pg_proc", "f.o")));
    share_user(object_set::function_signature, "function_signature");
    users_[index(object_set::function_body)] = "'{}'::pg_catalog.oid[]";
    users_[index(object_set::statistics)] = oids(fmt::format(
        "SELECT o.oid FROM pg_catalog.pg_statistic_ext AS o WHERE o.stxrelid = ANY ({}) AND o.stxexprs IS NULL "
        "AND NOT EXISTS (SELECT FROM pg_catalog.unnest(o.stxkeys::pg_catalog.int2[]) AS k(n) WHERE NOT {})",
        rel, visible_column("o.stxrelid", "k.n")));
    share_user(object_set::statistics, "statistics");

    // Names of the visible objects beyond PostgreSQL's own, as keys.
    relation_names_ = texts(fmt::format(
        "SELECT {} FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE c.oid = ANY ({})",
        key({"n.nspname", "c.relname"}), user(object_set::relation)));
    relation_names_ = share("relation_names", std::move(relation_names_), "pg_catalog.text[]");
    column_names_ = texts(fmt::format(
        "SELECT {} FROM pg_catalog.pg_attribute AS a JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.oid = ANY ({}) AND {}",
        key({"n.nspname", "c.relname", "a.attname"}), rel, visible_column("c.oid", "a.attnum")));
    column_names_ = share("column_names", std::move(column_names_), "pg_catalog.text[]");
    constraint_names_ = texts(fmt::format(
        "SELECT {} FROM pg_catalog.pg_constraint AS o JOIN pg_catalog.pg_namespace AS n ON n.oid = o.connamespace "
        "WHERE o.oid = ANY ({})",
        key({"n.nspname", "o.conname"}), user(object_set::constraint)));
    constraint_names_ = share("constraint_names", std::move(constraint_names_), "pg_catalog.text[]");
    function_names_ = texts(fmt::format(
        "SELECT {} FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace "
        "WHERE p.oid = ANY ({})",
        key({"n.nspname", "pg_catalog.concat(p.proname, '_', p.oid)"}), fns));
    function_names_ = share("function_names", std::move(function_names_), "pg_catalog.text[]");
    type_names_ = texts(fmt::format(
        "SELECT {} FROM pg_catalog.pg_type AS t JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace "
        "WHERE t.oid = ANY ({})",
        key({"n.nspname", "t.typname"}), user(object_set::type)));
    type_names_ = share("type_names", std::move(type_names_), "pg_catalog.text[]");
    schema_names_ = texts(fmt::format("SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace AS n WHERE n.oid = ANY ({})",
                                      user(object_set::schema)));
    schema_names_ = share("schema_names", std::move(schema_names_), "pg_catalog.text[]");

    // The policy's descriptions, then COMMENT ON of visible objects it does not describe.
    std::string rows;
    for (const auto& d : described) {
        const auto subid =
            d.column.empty()
                ? std::string("0")
                : fmt::format("(SELECT a.attnum::pg_catalog.int4 FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = "
                              "pg_catalog.to_regclass({})::pg_catalog.oid AND a.attname = {}::pg_catalog.name)",
                              quote_literal(d.relation), quote_literal(d.column));
        rows += fmt::format("{}(pg_catalog.to_regclass({})::pg_catalog.oid, {}, ({})::pg_catalog.text)",
                            rows.empty() ? "" : ", ", quote_literal(d.relation), subid, d.text);
    }
    const auto policy_rows =
        rows.empty() ? std::string("SELECT NULL::pg_catalog.oid AS objoid, NULL::pg_catalog.oid AS classoid, "
                                   "NULL::pg_catalog.int4 AS objsubid, NULL::pg_catalog.text AS description WHERE false")
                     : fmt::format("SELECT v.o AS objoid, 'pg_catalog.pg_class'::pg_catalog.regclass::pg_catalog.oid "
                                   "AS classoid, v.s AS objsubid, v.d AS description FROM (VALUES {}) AS v(o, s, d) "
                                   "WHERE v.o IS NOT NULL AND v.s IS NOT NULL",
                                   rows);
    const auto of_class = [this](const char* catalog, object_set kind) {
        return fmt::format("(o.classoid = 'pg_catalog.{}'::pg_catalog.regclass AND o.objoid = ANY ({}))", catalog,
                           user(kind));
    };
    descriptions_ = fmt::format(
        "SELECT o.objoid, o.classoid, o.objsubid, o.description FROM pg_catalog.pg_description AS o "
        "WHERE (o.objoid < 16384::pg_catalog.oid "
        "OR (o.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objoid = ANY ({0}) "
        "AND (o.objsubid = 0 OR NOT {1} OR {2})) "
        "OR {3} OR {4} OR {5} OR {6} OR {7}) "
        "AND (o.classoid, o.objoid, o.objsubid) NOT IN (SELECT p.classoid, p.objoid, p.objsubid FROM ({8}) AS p) "
        "UNION ALL SELECT p.objoid, p.classoid, p.objsubid, p.description FROM ({8}) AS p",
        user(object_set::relation), this->granted("o.objoid"), visible_column("o.objoid", "o.objsubid"),
        of_class("pg_namespace", object_set::schema), of_class("pg_proc", object_set::function),
        of_class("pg_type", object_set::type), of_class("pg_constraint", object_set::constraint),
        of_class("pg_trigger", object_set::trigger), policy_rows);
}

std::string visible_sets::user(object_set kind) const { return users_[index(kind)]; }

std::string visible_sets::visible(object_set kind, std::string_view oid) const {
    // Schemas are listed whole: public and pg_toast are PostgreSQL's too, but shown only for a granted object.
    if (kind == object_set::schema) return fmt::format("({} = ANY ({}))", oid, user(kind));
    return fmt::format("({0} < 16384::pg_catalog.oid OR {0} = ANY ({1}))", oid, user(kind));
}

std::string visible_sets::depends_visible(std::string_view catalog, std::string_view oid) const {
    // PostgreSQL's own objects are visible; of the others, the kinds a
    // definition can name. Languages and extensions name no user object.
    const auto of = [](const char* c) { return fmt::format("'pg_catalog.{}'::pg_catalog.regclass", c); };
    return fmt::format(
        "NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS d WHERE d.classid = {0} AND d.objid = {1} "
        "AND d.refobjid >= 16384::pg_catalog.oid AND NOT CASE d.refclassid "
        "WHEN {2} THEN {3} AND (d.refobjsubid = 0 OR NOT {4} OR {5}) "
        "WHEN {6} THEN {7} WHEN {8} THEN {9} WHEN {10} THEN {11} WHEN {12} THEN {13} WHEN {14} THEN {15} "
        "WHEN {16} THEN true WHEN {17} THEN true ELSE false END)",
        of(std::string(catalog).c_str()), oid, of("pg_class"), visible(object_set::relation, "d.refobjid"),
        granted("d.refobjid"), visible_column("d.refobjid", "d.refobjsubid"), of("pg_proc"),
        visible(object_set::function, "d.refobjid"), of("pg_type"), visible(object_set::type, "d.refobjid"),
        of("pg_namespace"), visible(object_set::schema, "d.refobjid"), of("pg_collation"),
        visible(object_set::collation, "d.refobjid"), of("pg_operator"), visible(object_set::operator_, "d.refobjid"),
        of("pg_language"), of("pg_extension"));
}

std::string visible_sets::visible_column(std::string_view relid, std::string_view attnum) const {
    return fmt::format("({0} = ANY ({2}) OR pg_catalog.concat({0}, ':', {1}) = ANY ({3}))", relid, attnum, allcols_,
                       colpairs_);
}

std::string visible_sets::masked_column(std::string_view relid, std::string_view attnum) const {
    return fmt::format("(pg_catalog.concat({}, ':', {}) = ANY ({}))", relid, attnum, masked_pairs_);
}

std::string visible_sets::masked_column_named(std::string_view schema, std::string_view table,
                                              std::string_view column) const {
    return fmt::format("({} = ANY ({}))",
                       key({fmt::format("o.{}", schema), fmt::format("o.{}", table), fmt::format("o.{}", column)}),
                       masked_names_);
}

std::string visible_sets::granted(std::string_view relid) const { return fmt::format("({} = ANY ({}))", relid, rel_); }

std::string visible_sets::relation_named(std::string_view schema, std::string_view name) const {
    return fmt::format("(o.{} IN {} OR {} = ANY ({}))", schema, builtin_schemas,
                       key({fmt::format("o.{}", schema), fmt::format("o.{}", name)}), relation_names_);
}

std::string visible_sets::column_named(std::string_view schema, std::string_view table, std::string_view column) const {
    return fmt::format("(o.{} IN {} OR {} = ANY ({}))", schema, builtin_schemas,
                       key({fmt::format("o.{}", schema), fmt::format("o.{}", table), fmt::format("o.{}", column)}),
                       column_names_);
}

std::string visible_sets::constraint_named(std::string_view schema, std::string_view name) const {
    return fmt::format("(o.{} IN {} OR {} = ANY ({}))", schema, builtin_schemas,
                       key({fmt::format("o.{}", schema), fmt::format("o.{}", name)}), constraint_names_);
}

std::string visible_sets::function_specifically_named(std::string_view schema, std::string_view name) const {
    return fmt::format("(o.{} IN {} OR {} = ANY ({}))", schema, builtin_schemas,
                       key({fmt::format("o.{}", schema), fmt::format("o.{}", name)}), function_names_);
}

std::string visible_sets::type_named(std::string_view schema, std::string_view name) const {
    return fmt::format("(o.{} IN {} OR {} = ANY ({}))", schema, builtin_schemas,
                       key({fmt::format("o.{}", schema), fmt::format("o.{}", name)}), type_names_);
}

std::string visible_sets::schema_named(std::string_view schema) const {
    return fmt::format("(o.{}::pg_catalog.text = ANY ({}))", schema, schema_names_);
}

const char* name_lookup_function(object_set kind) {
    switch (kind) {
        case object_set::relation: return "pg_catalog.to_regclass";
        case object_set::type: return "pg_catalog.to_regtype";
        case object_set::function: return "pg_catalog.to_regprocedure";
        case object_set::schema: return "pg_catalog.to_regnamespace";
        case object_set::role: return "pg_catalog.to_regrole";
        case object_set::operator_: return "pg_catalog.to_regoperator";
        case object_set::collation: return "pg_catalog.to_regcollation";
        default: return nullptr;
    }
}

namespace {

// A reg* type (or array of one): the kind of object it names; nullopt for
// the text search ones, which name PostgreSQL's own objects only.
struct reg_type {
    std::uint32_t scalar, array;
    std::optional<object_set> kind;
};
constexpr reg_type reg_types[] = {
    {24, 1008, object_set::function},   {2202, 2207, object_set::function}, {2203, 2208, object_set::operator_},
    {2204, 2209, object_set::operator_}, {2205, 2210, object_set::relation}, {2206, 2211, object_set::type},
    {4089, 4090, object_set::schema},   {4096, 4097, object_set::role},     {4191, 4192, object_set::collation},
    {3734, 3735, std::nullopt},          {3769, 3770, std::nullopt},
};
constexpr std::uint32_t aclitem = 1033, aclitem_array = 1034;

const reg_type* reg_type_of(std::uint32_t oid, bool& is_array) {
    for (const auto& t : reg_types) {
        if (t.scalar == oid || t.array == oid) {
            is_array = t.array == oid;
            return &t;
        }
    }
    return nullptr;
}

}  // namespace

bool guardable_column_type(std::uint32_t type_oid) {
    bool is_array = false;
    return reg_type_of(type_oid, is_array) || type_oid == aclitem || type_oid == aclitem_array;
}

namespace {

// Columns of scoped catalog relations that print a definition: shown when
// the definition names nothing hidden (the condition over the row `o`).
std::optional<std::string> definition_guard(std::string_view schema, std::string_view relation,
                                            std::string_view column, const visible_sets& v) {
    const auto regclass = [](const char* s, const char* n) {
        return fmt::format("pg_catalog.to_regclass({})::pg_catalog.oid", key({s, n}));
    };
    const auto builtin = [](const char* s) { return fmt::format("(o.{} IN {})", s, builtin_schemas); };
    // A column's default or generation expression (pg_attrdef).
    const auto attrdef = [&](const char* s, const char* t, const char* c) {
        return fmt::format("NOT EXISTS (SELECT FROM pg_catalog.pg_attrdef AS ad JOIN pg_catalog.pg_attribute AS aa "
                           "ON aa.attrelid = ad.adrelid AND aa.attnum = ad.adnum WHERE ad.adrelid = {} "
                           "AND aa.attname = o.{}::pg_catalog.name AND NOT {})",
                           regclass(s, t), c, v.depends_visible("pg_attrdef", "ad.oid"));
    };
    if (schema == "pg_catalog") {
        if (relation == "pg_proc" && (column == "prosrc" || column == "prosqlbody" || column == "probin"))
            return v.visible(object_set::function_body, "o.oid");
        if (relation == "pg_proc" && column == "proargdefaults")
            return v.visible(object_set::function_signature, "o.oid");
        if (relation == "pg_type" && (column == "typdefault" || column == "typdefaultbin"))
            return v.depends_visible("pg_type", "o.oid");
        if (relation == "pg_views" && column == "definition")
            return v.visible(object_set::relation_definition, regclass("schemaname", "viewname"));
        if (relation == "pg_matviews" && column == "definition")
            return v.visible(object_set::relation_definition, regclass("schemaname", "matviewname"));
        return std::nullopt;
    }
    if (schema == "information_schema") {
        if (relation == "columns" && (column == "column_default" || column == "generation_expression"))
            return attrdef("table_schema", "table_name", "column_name");
        if (relation == "views" && column == "relation_definition")
            return v.visible(object_set::relation_definition, regclass("table_schema", "table_name"));
        if (relation == "routines" && column == "routine_definition") return builtin("specific_schema");
        if (relation == "parameters" && column == "parameter_default") return builtin("specific_schema");
        if (relation == "domains" && column == "domain_default")
            return fmt::format("{} OR {}", builtin("domain_schema"),
                               v.depends_visible("pg_type", fmt::format("pg_catalog.to_regtype({})::pg_catalog.oid",
                                                                        key({"o.domain_schema", "o.domain_name"}))));
    }
    return std::nullopt;
}

// Columns of scoped catalog relations that describe a column's type: for a
// column the policy masks, what describes `text` (the type the client
// gets) instead, as an expression of the row `o` (of SQL type `type`), or
// nullopt.
std::optional<std::string> masked_as_text(std::string_view schema, std::string_view relation, std::string_view column,
                                          const std::string& type, const visible_sets& v) {
    if (!v.masks()) return std::nullopt;
    std::string masked, value;
    if (schema == "pg_catalog" && relation == "pg_attribute") {
        masked = v.masked_column("o.attrelid", "o.attnum");
        if (column == "atttypid") value = "25";
        else if (column == "atttypmod" || column == "attlen") value = "-1";
        else if (column == "attndims") value = "0";
        else if (column == "attbyval") value = "false";
        else if (column == "attalign") value = "'i'";
        else if (column == "attstorage") value = "'x'";
    } else if (schema == "information_schema" && relation == "columns") {
        masked = v.masked_column_named("table_schema", "table_name", "column_name");
        if (column == "data_type" || column == "udt_name") value = "'text'";
        else if (column == "udt_schema") value = "'pg_catalog'";
        else if (column == "character_octet_length") value = "1073741824";
        else if (column == "character_maximum_length" || column == "numeric_precision" ||
                 column == "numeric_precision_radix" || column == "numeric_scale" || column == "datetime_precision" ||
                 column == "interval_type" || column == "interval_precision" || column == "domain_catalog" ||
                 column == "domain_schema" || column == "domain_name")
            value = "NULL";
    }
    if (value.empty()) return std::nullopt;
    return fmt::format("CASE WHEN {} THEN {}::{} ELSE o.{} END", masked, value, type, sql_identifier(column));
}

}  // namespace

std::optional<std::string> guarded_select_list(const relation_info& rel, const catalog& cat, const visible_sets& v) {
    std::string list;
    bool guarded = false;
    for (const auto& c : rel.column_types) {
        const auto col = "o." + sql_identifier(c.name);
        std::string item = col;
        const auto* t = cat.type(c.type.schema, c.type.name);
        if (auto text = masked_as_text(rel.schema, rel.name, c.name, sql_qualified(c.type.schema, c.type.name), v)) {
            guarded = true;
            item = std::move(*text);
        } else if (const auto shown = definition_guard(rel.schema, rel.name, c.name, v)) {
            guarded = true;
            item = fmt::format("CASE WHEN {} THEN {} END", *shown, col);
        } else if (t && cat.name_printing(t->oid)) {
            guarded = true;
            bool is_array = false;
            const auto* reg = reg_type_of(t->oid, is_array);
            const auto visible = [&](std::string_view oid) {
                return reg && reg->kind ? v.visible(*reg->kind, oid)
                                        : fmt::format("({} < 16384::pg_catalog.oid)", oid);
            };
            // An ACL entry is kept when its grantee and grantor are visible roles (0 is PUBLIC).
            const auto acl_visible = [&](std::string_view item_expr) {
                return fmt::format("NOT EXISTS (SELECT FROM pg_catalog.aclexplode(ARRAY[{}]) AS x WHERE NOT {} OR NOT {})",
                                   item_expr, v.visible(object_set::role, "x.grantee"),
                                   v.visible(object_set::role, "x.grantor"));
            };
            if (reg && !is_array) {
                item = fmt::format("CASE WHEN {} THEN {} END", visible(col + "::pg_catalog.oid"), col);
            } else if (reg) {
                item = fmt::format("CASE WHEN {0} IS NOT NULL THEN COALESCE((SELECT pg_catalog.array_agg(CASE WHEN {1} "
                                   "THEN e.e END ORDER BY e.n) FROM pg_catalog.unnest({0}) WITH ORDINALITY AS e(e, n)), "
                                   "'{{}}') END",
                                   col, visible("e.e::pg_catalog.oid"));
            } else if (t->oid == aclitem) {
                item = fmt::format("CASE WHEN {} THEN {} END", acl_visible(col), col);
            } else if (t->oid == aclitem_array) {
                item = fmt::format("CASE WHEN {0} IS NOT NULL THEN COALESCE((SELECT pg_catalog.array_agg(a.a ORDER BY a.n) "
                                   "FROM pg_catalog.unnest({0}) WITH ORDINALITY AS a(a, n) WHERE {1}), '{{}}') END",
                                   col, acl_visible("a.a"));
            } else {
                return std::string();  // a name-printing column no guard covers
            }
        }
        list += (list.empty() ? "" : ", ") + item + " AS " + sql_identifier(c.name);
    }
    if (!guarded) return std::nullopt;
    return list;
}

std::optional<std::string> relation_filter(std::string_view schema, std::string_view name, const visible_sets& v) {
    using k = object_set;
    const auto is = [&v](object_set kind, const char* column) { return v.visible(kind, fmt::format("o.{}", column)); };
    // The columns of a granted relation are limited; those of PostgreSQL's and of indexes are not.
    const auto column = [&v](const char* relid, const char* attnum) {
        return fmt::format("(NOT {} OR {})", v.granted(fmt::format("o.{}", relid)),
                           v.visible_column(fmt::format("o.{}", relid), fmt::format("o.{}", attnum)));
    };
    const auto builtin = [](const char* column) { return fmt::format("o.{} < 16384::pg_catalog.oid", column); };
    const auto constraint = [&v] { return v.constraint_named("constraint_schema", "constraint_name"); };
    if (schema == "pg_catalog") {
        if (name == "pg_class") return is(k::relation, "oid");
        if (name == "pg_namespace") return is(k::schema, "oid");
        if (name == "pg_attribute")
            return fmt::format("{} AND (o.attnum < 0 OR {})", is(k::relation, "attrelid"), column("attrelid", "attnum"));
        if (name == "pg_attrdef")
            return fmt::format("{} AND {} AND {}", is(k::relation, "adrelid"), column("adrelid", "adnum"),
                               v.depends_visible("pg_attrdef", "o.oid"));
        if (name == "pg_type") return is(k::type, "oid");
        if (name == "pg_index") return is(k::relation, "indexrelid");
        if (name == "pg_constraint") return is(k::constraint, "oid");
        if (name == "pg_proc") return is(k::function, "oid");
        if (name == "pg_roles") return is(k::role, "oid");
        if (name == "pg_enum") return is(k::type, "enumtypid");
        if (name == "pg_inherits") return is(k::relation, "inhrelid") + " AND " + is(k::relation, "inhparent");
        if (name == "pg_trigger") return is(k::trigger, "oid");
        if (name == "pg_rewrite") return is(k::rule, "oid");
        if (name == "pg_policy") return is(k::relation, "polrelid") + " AND " + v.depends_visible("pg_policy", "o.oid");
        if (name == "pg_statistic_ext") return is(k::statistics, "oid");
        if (name == "pg_publication_rel") return is(k::relation, "prrelid");
        if (name == "pg_publication_namespace") return is(k::schema, "pnnspid");
        if (name == "pg_partitioned_table") return is(k::relation, "partrelid");
        if (name == "pg_sequence") return is(k::relation, "seqrelid");
        if (name == "pg_database") return std::string("o.datname = pg_catalog.current_database()");
        if (name == "pg_collation") return is(k::collation, "oid");
        if (name == "pg_operator") return is(k::operator_, "oid");
        if (name == "pg_cast")
            return fmt::format("(o.castfunc = 0 OR {}) AND {} AND {}", is(k::function, "castfunc"), is(k::type, "castsource"),
                               is(k::type, "casttarget"));
        if (name == "pg_aggregate") return v.visible(k::function, "o.aggfnoid::pg_catalog.oid");
        if (name == "pg_range") return is(k::type, "rngtypid");
        if (name == "pg_opclass" || name == "pg_opfamily" || name == "pg_amop" || name == "pg_amproc" ||
            name == "pg_conversion" || name == "pg_ts_config" || name == "pg_ts_dict" || name == "pg_ts_parser" ||
            name == "pg_ts_template")
            return builtin("oid");
        if (name == "pg_tables") return v.relation_named("schemaname", "tablename");
        if (name == "pg_views") return v.relation_named("schemaname", "viewname");
        if (name == "pg_matviews") return v.relation_named("schemaname", "matviewname");
        if (name == "pg_indexes")
            return v.relation_named("schemaname", "indexname") + " AND " + v.relation_named("schemaname", "tablename");
        if (name == "pg_policies")
            return fmt::format("{} AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy AS p WHERE p.polrelid = "
                               "pg_catalog.to_regclass({})::pg_catalog.oid AND p.polname = o.policyname AND NOT {})",
                               v.relation_named("schemaname", "tablename"), key({"o.schemaname", "o.tablename"}),
                               v.depends_visible("pg_policy", "p.oid"));
        return std::nullopt;
    }
    if (schema == "information_schema") {
        if (name == "schemata") return v.schema_named("schema_name");
        if (name == "tables" || name == "views" || name == "table_privileges" || name == "role_table_grants")
            return v.relation_named("table_schema", "table_name");
        if (name == "columns" || name == "column_privileges" || name == "role_column_grants")
            return v.column_named("table_schema", "table_name", "column_name");
        if (name == "key_column_usage" || name == "constraint_column_usage")
            return v.column_named("table_schema", "table_name", "column_name") + " AND " + constraint();
        if (name == "table_constraints" || name == "constraint_table_usage")
            return v.relation_named("table_schema", "table_name") + " AND " + constraint();
        if (name == "referential_constraints" || name == "check_constraints") return constraint();
        if (name == "routines" || name == "parameters")
            return v.function_specifically_named("specific_schema", "specific_name");
        if (name == "triggers")
            return fmt::format("{} AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger AS t WHERE t.tgrelid = "
                               "pg_catalog.to_regclass({})::pg_catalog.oid AND t.tgname = o.trigger_name::pg_catalog.name "
                               "AND NOT {})",
                               v.relation_named("event_object_schema", "event_object_table"),
                               key({"o.event_object_schema", "o.event_object_table"}),
                               v.visible(object_set::trigger, "t.oid"));
        if (name == "sequences") return v.relation_named("sequence_schema", "sequence_name");
        if (name == "view_table_usage")
            return v.relation_named("view_schema", "view_name") + " AND " + v.relation_named("table_schema", "table_name");
        if (name == "view_column_usage")
            return v.relation_named("view_schema", "view_name") + " AND " +
                   v.column_named("table_schema", "table_name", "column_name");
        if (name == "domains") return v.type_named("domain_schema", "domain_name");
        return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace pgsieve::policy::detail
