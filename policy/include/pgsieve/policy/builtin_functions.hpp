#pragma once
// Every function PostgreSQL 15 has in pg_catalog, by OID, each classified
// (DESIGN.md §1, "fail closed one level down"): allowed (object-free: it
// reads no object by OID, name or reg* value), guarded (a schema-discovery
// helper, scoped to the policy's visible objects under catalog:
// introspection), setting (current_setting: only parameters a client may
// read) or refused, with the reason. A pg_catalog function whose OID is not
// in the table is refused. tests/unit/builtins_test.cpp holds the table
// against PostgreSQL's own fmgroids.h; policy/pg15/generate.sh makes it.

#include <cstdint>
#include <span>
#include <string_view>

namespace pgsieve::policy::builtins {

struct pg_function {
    std::uint32_t oid;
    const char* name;
    char kind;        // prokind: f, a, w, p
    char volatility;  // provolatile: i, s, v
    bool returns_set;
    std::uint32_t result;     // prorettype
    const char* arguments;    // IN argument type OIDs, then "|" and the OUT/TABLE columns' (space-separated)
};

// The table, in OID order.
std::span<const pg_function> pg15_functions();
const pg_function* pg15_function(std::uint32_t oid);

enum class function_class { allowed, guarded, setting, refused };

struct classification {
    function_class what = function_class::refused;
    std::string_view reason;  // refused: why (for the refusal's detail)
};

// The class of the built-in with this OID; an OID the table lacks is refused.
classification classify(std::uint32_t oid);
// For a catalog without OIDs (made by hand): the strictest class of every
// overload of the name; a name the table lacks is refused.
classification classify(std::string_view name);

// Types whose output prints catalog object names (every reg* type, aclitem,
// and arrays of them), by OID.
bool name_printing_type(std::uint32_t type_oid);

}  // namespace pgsieve::policy::builtins
