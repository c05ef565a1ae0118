// The classified table of PostgreSQL 15's built-in functions, held against
// PostgreSQL's own headers (fmgroids.h: every built-in function's OID;
// pg_type_d.h: the type OIDs the rules use), and the attacks it closes.

#include <pgsieve/policy/builtin_functions.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace pgsieve::policy::builtins;

namespace {

// #define NAME value lines of a PostgreSQL header.
std::map<std::string, std::uint32_t> defines(const std::string& path, const std::string& prefix) {
    std::ifstream in(path);
    REQUIRE(in);
    std::map<std::string, std::uint32_t> out;
    const std::regex line("^#define (" + prefix + "[A-Z0-9_]+) ([0-9]+)$");
    for (std::string text; std::getline(in, text);) {
        std::smatch m;
        if (std::regex_match(text, m, line)) out[m[1]] = static_cast<std::uint32_t>(std::stoul(m[2]));
    }
    return out;
}

const pg_function* by_name(std::string_view name, std::string_view arguments) {
    for (const auto& f : pg15_functions()) {
        if (name == f.name && arguments == f.arguments) return &f;
    }
    return nullptr;
}

function_class class_of(std::string_view name, std::string_view arguments) {
    const auto* f = by_name(name, arguments);
    INFO(name << "(" << arguments << ")");
    REQUIRE(f);
    return classify(f->oid).what;
}

}  // namespace

TEST_CASE("builtins: the table has every function fmgroids.h lists, and only initdb's own besides", "[policy][builtins]") {
    const auto fmgr = defines(std::string(PGSIEVE_PG_SERVER_INCLUDE) + "/utils/fmgroids.h", "F_");
    REQUIRE(fmgr.size() > 3000);
    std::set<std::uint32_t> listed;
    for (const auto& f : pg15_functions()) listed.insert(f.oid);
    for (const auto& [name, oid] : fmgr) {
        INFO(name);
        CHECK(listed.contains(oid));
    }
    std::set<std::uint32_t> headers;
    for (const auto& [name, oid] : fmgr) headers.insert(oid);
    for (const auto& f : pg15_functions()) {
        // Functions initdb creates from SQL (system_functions.sql) have OIDs of 12000 and up.
        if (!headers.contains(f.oid)) CHECK(f.oid >= 12000);
    }
    std::map<function_class, int> counts;
    for (const auto& f : pg15_functions()) ++counts[classify(f.oid).what];
    // Printed for the record: how many of PostgreSQL 15's functions fall in each class.
    WARN(fmt::format("{} pg_catalog functions: {} allowed, {} guarded, {} setting, {} refused",
                     pg15_functions().size(), counts[function_class::allowed], counts[function_class::guarded],
                     counts[function_class::setting], counts[function_class::refused]));
    CHECK(counts[function_class::allowed] > 1500);
    CHECK(counts[function_class::refused] > 700);
}

TEST_CASE("builtins: the type OIDs the rules use are PostgreSQL's", "[policy][builtins]") {
    const auto types = defines(std::string(PGSIEVE_PG_SERVER_INCLUDE) + "/catalog/pg_type_d.h", "");
    for (const char* t : {"REGPROCOID", "REGPROCEDUREOID", "REGOPEROID", "REGOPERATOROID", "REGCLASSOID",
                          "REGCOLLATIONOID", "REGTYPEOID", "REGROLEOID", "REGNAMESPACEOID", "REGCONFIGOID",
                          "REGDICTIONARYOID", "ACLITEMOID"}) {
        INFO(t);
        REQUIRE(types.contains(t));
        CHECK(name_printing_type(types.at(t)));
    }
    CHECK_FALSE(name_printing_type(types.at("OIDOID")));
    CHECK_FALSE(name_printing_type(types.at("TEXTOID")));
}

TEST_CASE("attack: functions that print or look up object names by OID are refused, whatever their spelling",
          "[policy][builtins][security]") {
    // regclassout(oid) and its kin printed every object's name, hidden ones included, under both catalog modes.
    for (const auto* name : {"regclassout", "regtypeout", "regprocout", "regprocedureout", "regnamespaceout",
                             "regroleout", "regoperout", "regoperatorout", "regcollationout", "regconfigout",
                             "regdictionaryout", "regclassin", "regtypein", "regclassrecv", "regclasssend"}) {
        bool found = false;
        for (const auto& f : pg15_functions()) {
            if (std::string_view(f.name) != name) continue;
            found = true;
            INFO(name);
            CHECK(classify(f.oid).what == function_class::refused);
        }
        INFO(name);
        CHECK(found);
    }
    CHECK(class_of("array_in", "2275 26 23") == function_class::refused);  // array_in('{…}'::cstring, 2205, -1)
    CHECK(class_of("record_out", "2249") == function_class::refused);
    CHECK(class_of("pg_get_function_sqlbody", "26") == function_class::refused);  // hidden function bodies
    CHECK(class_of("pg_relation_filepath", "2205") == function_class::refused);  // existence oracles
    CHECK(class_of("row_security_active", "25") == function_class::refused);
    CHECK(class_of("row_security_active", "26") == function_class::refused);
    CHECK(class_of("ts_token_type", "25|23 25 25") == function_class::refused);
    CHECK(class_of("acldefault", "18 26") == function_class::refused);  // prints any role's name
    CHECK(class_of("satisfies_hash_partition", "26 23 23 2276") == function_class::refused);
    CHECK(class_of("fmgr_sql_validator", "26") == function_class::refused);
    CHECK(class_of("pg_read_file", "25") == function_class::refused);
    CHECK(classify(999999).what == function_class::refused);  // not a PostgreSQL 15 built-in
}

TEST_CASE("builtins: object-free functions are allowed, discovery helpers guarded", "[policy][builtins]") {
    CHECK(class_of("lower", "25") == function_class::allowed);
    CHECK(class_of("now", "") == function_class::allowed);
    CHECK(class_of("count", "") == function_class::allowed);
    CHECK(class_of("generate_series", "23 23") == function_class::allowed);
    CHECK(class_of("to_tsvector", "3734 25") == function_class::allowed);  // a text search configuration by name
    CHECK(class_of("pg_typeof", "2276") == function_class::allowed);
    CHECK(class_of("random", "") == function_class::allowed);
    CHECK(class_of("current_setting", "25") == function_class::setting);
    CHECK(class_of("has_table_privilege", "25 25") == function_class::guarded);
    CHECK(class_of("format_type", "26 23") == function_class::guarded);
    CHECK(class_of("pg_get_viewdef", "26") == function_class::guarded);
    CHECK(class_of("nextval", "2205") == function_class::refused);
    CHECK(class_of("pg_sleep", "701") == function_class::refused);
}
