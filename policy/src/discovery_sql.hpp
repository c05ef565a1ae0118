#pragma once
// The SQL that scoped discovery splices into a statement (discovery.hpp):
// whether a catalog object is visible to a policy, as expressions PostgreSQL
// evaluates, and each catalog relation's filter. Every name is
// schema-qualified (pg_catalog.…) so a client's search_path cannot redirect
// it; nothing refers to a name a client could define (no CTE to shadow).
//
// PostgreSQL's own objects (OIDs below 16384, made by initdb) are visible.
// The policy's objects are collected into arrays by uncorrelated scalar
// sub-queries, which PostgreSQL evaluates once per statement (InitPlans),
// however often a correlated sub-query around them runs: a visibility test
// is then a comparison and an array search, not a catalog scan.

#include <pgsieve/policy/catalog.hpp>
#include <pgsieve/policy/decide.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace pgsieve::policy::detail {

// Kinds of catalog objects, each with its visibility test.
enum class object_set {
    relation, type, function, schema, role, constraint, trigger, rule, statistics, operator_, collation,
    // Definitions: relations whose query (a view's) or partition key names
    // only visible objects; functions whose signature (argument defaults)
    // does; functions whose body is shown (PostgreSQL's own only).
    relation_definition, function_signature, function_body,
};
inline constexpr std::size_t object_set_count = static_cast<std::size_t>(object_set::function_body) + 1;

// The visible objects of one policy, rendered once per rewrite.
class visible_sets {
public:
    // `shared`: each set is computed once per statement, in a materialized
    // CTE of its own (with_entries()) that every use reads; else each use
    // carries the set's whole sub-query.
    explicit visible_sets(const context& ctx, bool shared = false);

    // The CTEs the sets are read from (shared), in dependency order, as
    // `pgsieve_x AS MATERIALIZED (…), …`; empty when not shared.
    std::string with_entries() const;

    // Whether the object of this kind with OID `oid` (an SQL expression) is visible.
    std::string visible(object_set kind, std::string_view oid) const;
    // Whether column `attnum` of `relid` is visible, for a relation the policy grants.
    std::string visible_column(std::string_view relid, std::string_view attnum) const;
    // Whether column `attnum` of `relid` (or the column a row of `o` names)
    // is one the policy masks: discovery shows it as text.
    std::string masked_column(std::string_view relid, std::string_view attnum) const;
    std::string masked_column_named(std::string_view schema, std::string_view table, std::string_view column) const;
    bool masks() const { return masks_; }
    // Whether `relid` is one of the policy's granted relations (whose columns it may limit).
    std::string granted(std::string_view relid) const;
    // Whether every object the row `oid` of pg_catalog.`catalog` depends on
    // (pg_depend) is visible: its definition names nothing hidden.
    std::string depends_visible(std::string_view catalog, std::string_view oid) const;
    // Whether a relation, column, constraint, function (by specific name),
    // type or schema named by text columns of `o` is visible.
    std::string relation_named(std::string_view schema, std::string_view name) const;
    std::string column_named(std::string_view schema, std::string_view table, std::string_view column) const;
    std::string constraint_named(std::string_view schema, std::string_view name) const;
    std::string function_specifically_named(std::string_view schema, std::string_view name) const;
    std::string type_named(std::string_view schema, std::string_view name) const;
    std::string schema_named(std::string_view schema) const;
    // pg_description as the client sees it: scoped, with the policy's
    // descriptions in place of COMMENT ON where it has one.
    const std::string& descriptions() const { return descriptions_; }

private:
    std::string user(object_set kind) const;
    // A set: its sub-query, or (shared) a read of the CTE it is put in.
    std::string share(std::string_view name, std::string set, std::string_view type);
    void share_user(object_set kind, std::string_view name);
    bool shared_ = false;
    std::vector<std::string> ctes_;
    std::string rel_, allcols_, colpairs_, functions_, masked_pairs_, masked_names_;
    std::string users_[object_set_count];  // per kind: the array of visible OIDs beyond PostgreSQL's own
    std::string relation_names_, column_names_, constraint_names_, function_names_, type_names_, schema_names_;
    std::string descriptions_;
    bool masks_ = false;  // the policy masks a column of a granted relation
};

// The filter of a scoped catalog relation over its rows `o`, or nullopt when
// the relation is not scoped (see discovery_relation_rule).
std::optional<std::string> relation_filter(std::string_view schema, std::string_view name, const visible_sets& v);

// to_regclass and its kin: the function that turns a name into an OID of a
// kind without erroring, or nullptr when the kind has none.
const char* name_lookup_function(object_set kind);

// Catalog columns of a name-printing type that a scoped relation keeps only
// where they name a visible object: reg* values and arrays of them (NULL
// where hidden), ACLs (the entries naming hidden roles left out).
bool guardable_column_type(std::uint32_t type_oid);
// The select list of a scoped catalog relation `rel` over its rows `o`, with
// such columns guarded; nullopt when no column needs it (then `o.*`), or an
// empty string when a name-printing column cannot be guarded (refuse).
std::optional<std::string> guarded_select_list(const relation_info& rel, const catalog& cat, const visible_sets& v);

}  // namespace pgsieve::policy::detail
