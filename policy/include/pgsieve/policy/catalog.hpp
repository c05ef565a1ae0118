#pragma once
// A snapshot of the upstream catalog: what relations, columns, functions,
// operators, domains and casts exist, so names resolve as PostgreSQL would
// resolve them. Immutable once built; replaced whole when refreshed.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pgsieve::policy {

// A type by schema and name, as pg_type names it (pg_catalog.int4).
struct type_key {
    std::string schema;
    std::string name;
    auto operator<=>(const type_key&) const = default;
    bool builtin() const { return schema == "pg_catalog" || schema == "information_schema"; }
};

struct column_info {
    std::string name;
    type_key type;
    type_key element;  // for an array column, its element type; else empty
    std::int16_t number = 0;  // pg_attribute.attnum (0 in catalogs made by hand)
};

struct relation_info {
    std::string schema;
    std::string name;
    char kind = 'r';                   // pg_class.relkind: r table, v view, m matview, f foreign, p partitioned
    std::vector<std::string> columns;  // in attnum order, dropped columns left out
    std::vector<column_info> column_types;  // parallel to columns (may be empty in tests)
    std::string owner;                      // the owning role's name
    bool row_security = false;              // relrowsecurity: ENABLE ROW LEVEL SECURITY
    bool force_row_security = false;        // relforcerowsecurity: FORCE (the owner too)
    std::uint32_t oid = 0;                  // 0 in catalogs made by hand (tests)
    std::uint32_t row_type = 0;             // pg_class.reltype: its composite type
    bool has_subclass = false;              // relhassubclass: inheritance children or partitions
    // The columns its indexes cover, each once; "" for an index with an
    // expression or a predicate (which can name anything). A plan shows
    // the indexes it uses by name.
    std::vector<std::string> index_columns;
    // A view's or materialized view's: the columns of other relations its
    // definition reads (pg_depend of its rules), as (OID, attnum).
    std::vector<std::pair<std::uint32_t, std::int16_t>> definition_reads;
    const column_info* column(const std::string& name) const;
};

// A row of pg_type: what a type is made of, so a statement's types are
// judged as types (by OID), never by their spelling.
struct type_info {
    std::uint32_t oid = 0;
    std::string schema;
    std::string name;
    char type = 'b';      // typtype: b base, c composite, d domain, e enum, p pseudo, r range, m multirange
    char category = 'U';  // typcategory: A array, …
    std::uint32_t element = 0;  // typelem of an array
    std::uint32_t base = 0;     // typbasetype of a domain
    std::uint32_t relation = 0; // typrelid of a composite
    std::uint32_t subtype = 0;  // a range's subtype; a multirange's range
    std::uint32_t input = 0, output = 0, receive = 0, send = 0;  // its I/O functions
    bool builtin() const { return schema == "pg_catalog" || schema == "information_schema"; }
};

struct function_info {
    std::string schema;
    std::string name;
    char volatility = 'v';  // pg_proc.provolatile: i immutable, s stable, v volatile
    char kind = 'f';        // pg_proc.prokind: f function, a aggregate, w window, p procedure
    int arguments = 0;      // pronargs
    int defaults = 0;       // pronargdefaults
    bool variadic = false;  // provariadic <> 0
    bool returns_set = false;
    type_key result;        // prorettype
    // Named output columns (OUT/TABLE parameters, or a composite result's
    // attributes); nullopt for a scalar result or an unnamed record.
    std::optional<std::vector<std::string>> result_columns;
    // Whether a call with `n` positional arguments could pick this overload.
    bool accepts(int n, bool variadic_call) const;
    // A built-in's classification is by OID (builtin_functions.hpp); 0 in
    // catalogs made by hand (tests), where every overload of the name counts.
    std::uint32_t oid = 0;
    // Types by OID (empty in catalogs made by hand): the result, the IN
    // arguments, and the OUT/TABLE columns.
    std::uint32_t result_type = 0;
    std::vector<std::uint32_t> argument_types, out_types;
};

struct operator_info {
    std::string schema;
    std::string name;
    std::string function_schema;
    std::string function_name;
    type_key left, right;  // empty for a prefix operator's left
};

// A domain's CHECK constraints run the functions they call whenever a value
// is converted to it; a domain over a domain runs its base's too.
struct domain_info {
    type_key base;
    std::vector<std::pair<std::string, std::string>> functions;  // schema, name
};

// A cast whose function is not a built-in.
struct cast_info {
    type_key target;
    std::string function_schema;
    std::string function_name;
    char context = 'e';  // pg_cast.castcontext: e explicit, a assignment, i implicit
};

// One upstream role as PostgreSQL sees it. Privileges are named as GRANT
// names them (SELECT, INSERT, …); ownership through membership counts.
struct role_facts {
    bool exists = false;
    bool superuser = false;
    bool bypass_rls = false;
    bool create_role = false;
    std::vector<std::string> member_of;             // every role it is a member of, directly or not
    std::vector<std::string> privileged_member_of;  // those that are superuser or BYPASSRLS (SET ROLE reaches them)
    struct relation_privileges {
        std::set<std::string> table;                              // table-level
        std::map<std::string, std::set<std::string>> columns;     // column-level, beyond the table-level ones
        bool owner = false;
    };
    std::map<std::pair<std::string, std::string>, relation_privileges> relations;  // only where it holds something
    std::map<std::string, bool> create_schemas;  // schemas it may CREATE in → whether it owns them
};

// A row-level security policy (pg_policies), its expressions as pg_get_expr prints them.
struct row_policy {
    std::string name;
    bool permissive = true;
    std::vector<std::string> roles;  // "public" for every role
    std::string command;             // ALL, SELECT, INSERT, UPDATE, DELETE
    std::optional<std::string> using_expression;
    std::optional<std::string> check_expression;
};

class catalog {
public:
    catalog() = default;
    catalog(std::vector<relation_info> relations, std::vector<function_info> functions,
            std::vector<operator_info> operators);

    const relation_info* relation(const std::string& schema, const std::string& name) const;
    const relation_info* relation(std::uint32_t oid) const;  // null: not in the snapshot
    // Unqualified: the first schema of `path` (see resolution_path) that has it.
    const relation_info* resolve_relation(const std::string& name, const std::vector<std::string>& path) const;

    // Every overload of schema.name (null when none).
    const std::vector<function_info>* functions(const std::string& schema, const std::string& name) const;

    // Types, by OID and by name; the attribute types of a composite type.
    const type_info* type(std::uint32_t oid) const;
    const type_info* type(const std::string& schema, const std::string& name) const;
    // Whether a value of the type prints catalog object names (reg*, aclitem,
    // and arrays, domains, ranges and composites of them).
    bool name_printing(std::uint32_t oid) const;
    // A function by OID (null: not in the snapshot).
    const function_info* function(std::uint32_t oid) const;
    void set_types(std::vector<type_info> types, std::map<std::uint32_t, std::vector<std::uint32_t>> attributes);
    bool has_types() const { return !types_.empty(); }

    // Operators defined outside pg_catalog, by name.
    std::vector<const operator_info*> user_operators(const std::string& name) const;
    bool has_user_operator(const std::string& name) const { return user_operators_.contains(name); }

    // Domains (any schema) and user casts, for conversions.
    std::map<type_key, domain_info> domains;
    std::multimap<type_key, cast_info> casts;  // by target type
    // Sequences a table's columns own (serial, identity): INSERT needs USAGE on them.
    std::map<std::pair<std::string, std::string>, std::vector<std::pair<std::string, std::string>>> sequences;

    std::size_t relation_count() const { return relations_.size(); }
    std::size_t function_count() const { return function_count_; }

    // What PostgreSQL lets each upstream role do (the second wall), for the
    // roles the configuration names; `roles_checked` is false for a catalog
    // read without them (unit tests), which upstream_check() then skips.
    std::map<std::string, role_facts> roles;
    bool roles_checked = false;
    // Row-level security policies, by table (pg_policies).
    std::map<std::pair<std::string, std::string>, std::vector<row_policy>> row_policies;

private:
    std::map<std::pair<std::string, std::string>, relation_info> relations_;
    std::map<std::uint32_t, std::pair<std::string, std::string>> relations_by_oid_;
    std::map<std::pair<std::string, std::string>, std::vector<function_info>> functions_;
    std::multimap<std::string, operator_info> user_operators_;
    std::size_t function_count_ = 0;
    std::map<std::uint32_t, const function_info*> functions_by_oid_;
    std::map<std::uint32_t, type_info> types_;
    std::map<std::pair<std::string, std::string>, std::uint32_t> type_names_;
    std::set<std::uint32_t> name_printing_;
};

// The schemas an unqualified name is looked up in, as PostgreSQL searches
// them: "$user" replaced by the role's name, and pg_catalog first unless
// the path places it elsewhere itself.
std::vector<std::string> resolution_path(const std::vector<std::string>& search_path, const std::string& role);

// The queries that read a snapshot (simple protocol, text results), in the
// order of catalog_rows' members. Each row's columns are listed with it.
namespace catalog_sql {
// schema, relation, relkind, column, type schema, type name, element type schema, element type name,
// owner, relrowsecurity, relforcerowsecurity, oid, reltype, relhassubclass, the columns its indexes
// cover (a text array, '' for an expression or predicate; NULL: no index)
// (relkind c: a composite type's attributes)
extern const char* const relations;
// oid, schema, name, typtype, typcategory, typelem, typbasetype, typrelid, range subtype (or a
// multirange's range), typinput, typoutput, typreceive, typsend
extern const char* const types;
// schema, function, provolatile, prokind, pronargs, pronargdefaults, variadic, retset,
// result type schema, result type name, result columns (a text array or NULL), oid,
// result type oid, IN argument type oids (space-separated), OUT/TABLE column type oids
extern const char* const functions;
// schema, operator, function schema, function name, left type schema, left type name, right type schema, right type name
extern const char* const operators;
// domain schema, domain name, base type schema, base type name, function schema, function name (NULLs: none)
extern const char* const domains;
// target type schema, target type name, function schema, function name, castcontext
extern const char* const casts;
// table schema, table, sequence schema, sequence (sequences owned by the table's columns)
extern const char* const sequences;
// table schema, table, policy, PERMISSIVE|RESTRICTIVE, roles (a text array), command, USING, WITH CHECK
extern const char* const row_policies;
// For each named role: name, rolsuper, rolbypassrls, rolcreaterole (NULLs: no such role),
// then a role it is a member of, with its rolsuper and rolbypassrls (NULLs: none).
std::string roles(const std::vector<std::string>& names);
// For each named role, what it holds outside pg_catalog and information_schema:
// role, schema, relation (NULL: the schema itself), column (NULL: the relation),
// privileges (comma-separated), owner (t/f).
std::string privileges(const std::vector<std::string>& names);
}  // namespace catalog_sql

using row = std::vector<std::optional<std::string>>;

// The rows of each catalog query, as read from the upstream.
struct catalog_rows {
    std::vector<row> relations, functions, operators, domains, casts, sequences, row_policies, roles, privileges,
        types;
    bool operator==(const catalog_rows&) const = default;
};

std::shared_ptr<const catalog> catalog_from_rows(const catalog_rows& rows);

// PostgreSQL's text format of a one-dimensional array ({a,"b c"}), as names.
std::optional<std::vector<std::string>> parse_text_array(std::string_view text);

// The rows as text in COPY's text format, one section a query, to record a
// snapshot for tests (`pgsieve dump-catalog`) and read it back.
std::string dump_catalog_rows(const catalog_rows& rows);
std::optional<catalog_rows> read_catalog_rows(std::string_view text);

}  // namespace pgsieve::policy
