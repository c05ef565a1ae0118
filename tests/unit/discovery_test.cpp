// Scoped discovery without a database: what decide() sends upstream for
// catalog queries under catalog: introspection (the corpus configuration
// and recorded catalog), and what it refuses. tests/integration/test_discovery.py
// runs the same rewrites against PostgreSQL.

#include "corpus_support.hpp"

#include <pgsieve/policy/builtins.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;

namespace {

struct discovery {
    config::policy policy;

    explicit discovery(std::string_view name = "customer-success") : policy(*test::corpus_config()->find_policy(name)) {}

    policy::decision decide(std::string_view sql) const {
        const policy::context ctx{*test::corpus_config(), policy, *test::corpus_catalog(), {"public"}, "ai_readonly",
                                  nullptr};
        return policy::decide(sql, ctx);
    }
};

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// The statement after the shared sets' WITH list pgsieve puts in front of a
// SELECT (each `pgsieve_x AS MATERIALIZED (SELECT … AS v)`).
std::string statement_of(const std::string& scoped) {
    REQUIRE(scoped.starts_with("WITH pgsieve_"));
    const auto end = scoped.rfind(" AS v) ");
    REQUIRE(end != std::string::npos);
    return scoped.substr(end + 7);
}

}  // namespace

TEST_CASE("discovery: a SELECT's visible sets are computed once, in CTEs in front of it", "[policy][discovery]") {
    const discovery d;
    const auto r = d.decide("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid");
    REQUIRE(r.allowed);
    CHECK(r.scoped_sql.starts_with("WITH pgsieve_rel AS MATERIALIZED (SELECT "));
    // Both relations read the one set of granted relations.
    CHECK(statement_of(r.scoped_sql).find("(SELECT s.v FROM pgsieve_rel AS s)::pg_catalog.oid[]") != std::string::npos);
    // The client's own WITH keeps its place after pgsieve's, RECURSIVE too.
    const auto with = d.decide("WITH RECURSIVE x AS (SELECT relname FROM pg_catalog.pg_class) SELECT * FROM x");
    REQUIRE(with.allowed);
    CHECK(with.scoped_sql.starts_with("WITH RECURSIVE pgsieve_rel AS MATERIALIZED (SELECT "));
    CHECK(has(with.scoped_sql, " AS v), x AS (SELECT relname FROM (SELECT "));
    // PREPARE's query as it would be on its own (the session compares them after a reload).
    const auto prepared = d.decide("PREPARE p AS SELECT relname FROM pg_catalog.pg_class");
    const auto alone = d.decide("SELECT relname FROM pg_catalog.pg_class");
    REQUIRE(prepared.allowed);
    CHECK(prepared.scoped_sql == "PREPARE p AS " + alone.scoped_sql);
}

TEST_CASE("attack: a name the client writes that could be one of pgsieve's shared CTEs keeps every set inline",
          "[policy][discovery][security]") {
    const discovery d;
    // A CTE of the client's named like pgsieve's, nearer than it, would be read in its place.
    for (const char* sql : {"SELECT * FROM (WITH pgsieve_rel AS (SELECT oid AS v FROM pg_catalog.pg_class) "
                            "SELECT relname FROM pg_catalog.pg_class) t",
                            "SELECT * FROM (WITH U&\"pgsieve\005frel\" AS (SELECT 1 AS v) SELECT relname FROM "
                            "pg_catalog.pg_class) t",
                            "SELECT relname FROM pg_catalog.pg_class WHERE relname <> 'PGSIEVE_x'"}) {
        CAPTURE(sql);
        const auto r = d.decide(sql);
        if (!r.allowed) continue;  // refused is as safe
        CHECK_FALSE(has(r.scoped_sql, "MATERIALIZED"));
        CHECK_FALSE(has(r.scoped_sql, "FROM pgsieve_rel AS s"));
    }
}

TEST_CASE("discovery: every scoped catalog relation is read through a fenced filter", "[policy][discovery]") {
    const discovery d;
    const auto relations = policy::builtins::scoped_discovery_relations();
    CHECK(relations.size() > 50);
    for (const auto& [schema, name] : relations) {
        const auto sql = "SELECT * FROM " + schema + "." + name;
        const auto r = d.decide(sql);
        INFO(sql << " -> " << r.message);
        REQUIRE(r.allowed);
        REQUIRE(r.scoped == std::vector<std::string>{schema + "." + name});
        // The relation is replaced by a sub-query with OFFSET 0, under its own name.
        CHECK(statement_of(r.scoped_sql).starts_with("SELECT * FROM (SELECT "));
        // Its columns as they are (o.*), or listed with those of a name-printing type guarded.
        CHECK(has(r.scoped_sql, name == "pg_description"
                                    ? std::string("SELECT d.* FROM (SELECT o.objoid")
                                    : " FROM \"" + schema + "\".\"" + name + "\" AS o WHERE "));
        CHECK(r.scoped_sql.ends_with("OFFSET 0) AS \"" + name + "\""));
    }
}

TEST_CASE("discovery: an alias is kept, and the client's predicates stay outside the fence", "[policy][discovery]") {
    const auto r = discovery().decide("SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relname::int > 0");
    REQUIRE(r.allowed);
    CHECK(statement_of(r.scoped_sql).starts_with("SELECT c.relname FROM (SELECT "));
    CHECK(has(r.scoped_sql, " FROM \"pg_catalog\".\"pg_class\" AS o WHERE "));
    CHECK(r.scoped_sql.ends_with(" OFFSET 0) c WHERE c.relname::int > 0"));
}

TEST_CASE("attack: catalog columns of name-printing types show only visible objects' names",
          "[policy][discovery][security]") {
    // relacl printed every grantee role's name; pg_type.typinput (regproc) and
    // pg_aggregate's regproc columns print any function's name.
    auto r = discovery().decide("SELECT relname, relacl FROM pg_catalog.pg_class");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "pg_catalog.aclexplode(ARRAY[a.a])"));
    CHECK(has(r.scoped_sql, "AS \"relacl\""));
    r = discovery().decide("SELECT typname, typinput FROM pg_catalog.pg_type");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "CASE WHEN (o.\"typinput\"::pg_catalog.oid < 16384::pg_catalog.oid"));
}

TEST_CASE("discovery: statements that read no catalog relation are sent as they are", "[policy][discovery]") {
    const auto r = discovery().decide("SELECT id, name FROM customers WHERE id = 1");
    REQUIRE(r.allowed);
    CHECK(r.scoped.empty());
    CHECK(r.scoped_sql.empty());
}

TEST_CASE("discovery: inside EXPLAIN, PREPARE, DECLARE and sub-queries too", "[policy][discovery]") {
    const discovery d;
    for (const auto* sql : {"PREPARE p AS SELECT relname FROM pg_class",
                            "SELECT (SELECT count(*) FROM pg_class) AS n", "SELECT 1; SELECT relname FROM pg_class"}) {
        const auto r = d.decide(sql);
        INFO(sql);
        REQUIRE(r.allowed);
        CHECK(has(r.scoped_sql, "OFFSET 0) AS \"pg_class\""));
    }
}

TEST_CASE("attack: EXPLAIN of a catalog query counts hidden objects and is refused", "[policy][discovery][security]") {
    // The scoped text's filter is in the plan, and EXPLAIN ANALYZE says how
    // many rows (hidden relations) it removed.
    const discovery d;
    for (const auto* sql : {"EXPLAIN SELECT relname FROM pg_class", "EXPLAIN ANALYZE SELECT relname FROM pg_class",
                            "EXPLAIN (FORMAT JSON) SELECT 1 FROM pg_class"}) {
        const auto r = d.decide(sql);
        INFO(sql);
        CHECK_FALSE(r.allowed);
        CHECK(r.rule == policy::rule::statement);
        CHECK(has(r.message, "EXPLAIN of this statement could show objects"));
    }
}

TEST_CASE("attack: COPY of a catalog relation cannot be scoped and is refused", "[policy][discovery][security]") {
    const auto r = discovery().decide("COPY pg_catalog.pg_class TO STDOUT");
    CHECK_FALSE(r.allowed);
    CHECK(r.rule == policy::rule::catalog);
    CHECK(has(r.message, "pg_catalog.pg_class outside a FROM clause cannot be scoped"));
}

TEST_CASE("attack: an OID turned into a name prints only visible objects", "[policy][discovery][security]") {
    const discovery d;
    // Under catalog: none, no conversion to a name-printing type at all.
    for (const auto* sql : {"SELECT 16390::regclass", "SELECT CAST(16390 AS pg_catalog.regtype)", "SELECT regproc '1'",
                            "SELECT 'hr.employees'::regclass::oid"}) {
        const auto none = discovery("plain").decide(sql);
        INFO(sql);
        CHECK_FALSE(none.allowed);
        CHECK(none.rule == policy::rule::catalog);
    }
    auto r = d.decide("SELECT 16390::regclass");
    REQUIRE(r.allowed);
    CHECK(statement_of(r.scoped_sql).starts_with("SELECT (SELECT g.o FROM (SELECT (16390)::pg_catalog.oid AS o) AS g WHERE "));
    CHECK(r.scoped_sql.ends_with(")::regclass"));
    // A name is looked up without an error for a missing one, so hidden and missing read alike.
    r = d.decide("SELECT 'hr.employees'::regclass");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "pg_catalog.to_regclass('hr.employees')"));
    r = d.decide("SELECT CAST((c.oid) AS regclass) FROM pg_class c");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "SELECT CAST((SELECT g.o FROM (SELECT ((c.oid))::pg_catalog.oid AS o)"));
    r = d.decide("SELECT regclass '16390'");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "::pg_catalog.regclass"));
    CHECK_FALSE(has(r.scoped_sql, "regclass '16390'"));
}

TEST_CASE("attack: arrays of names and name-typed columns cannot be scoped", "[policy][discovery][security]") {
    const discovery d;
    auto r = d.decide("SELECT '{16390}'::regclass[]");
    CHECK_FALSE(r.allowed);
    CHECK(r.rule == policy::rule::catalog);
    r = d.decide("SELECT * FROM json_to_record('{\"x\": 16390}') AS t(x regclass)");
    CHECK_FALSE(r.allowed);
}

TEST_CASE("attack: helpers that print or test objects are guarded, or refused when they cannot be",
          "[policy][discovery][security]") {
    const discovery d;
    auto r = d.decide("SELECT pg_get_viewdef(16390)");
    REQUIRE(r.allowed);
    CHECK(statement_of(r.scoped_sql).starts_with("SELECT pg_get_viewdef((SELECT g.o FROM (SELECT (16390)::pg_catalog.oid AS o)"));
    r = d.decide("SELECT has_table_privilege('hr.employees', 'SELECT')");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "pg_catalog.to_regclass('hr.employees')"));
    r = d.decide("SELECT to_regclass('hr.employees')");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "::pg_catalog.regclass"));
    // Nested: the outer guard wraps the inner one.
    r = d.decide("SELECT pg_get_viewdef(to_regclass('public.customer_plans'))");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "SELECT pg_get_viewdef((SELECT g.o FROM (SELECT ((SELECT g.o FROM (SELECT (to_regclass("));
    for (const auto* sql : {"SELECT pg_partition_root(16390)", "SELECT pg_has_role('postgres', 'MEMBER')",
                            "SELECT shobj_description(1, 'pg_database')", "SELECT pg_describe_object(1259, 16390, 0)",
                            "SELECT has_column_privilege('public.customers', 'ssn', 'SELECT')",
                            "SELECT regclass('hr.employees')", "SELECT has_table_privilege('someone', 16390, 'SELECT')"}) {
        const auto refused = d.decide(sql);
        INFO(sql << " -> " << refused.message << " / " << refused.detail);
        CHECK_FALSE(refused.allowed);
        // Refused as a built-in that cannot be scoped (builtin_functions.cpp), or by discovery itself.
        CHECK((refused.rule == policy::rule::function || refused.rule == policy::rule::catalog));
        if (refused.rule == policy::rule::function)
            CHECK((refused.detail.find("scoped discovery cannot limit") != std::string::npos ||
                   refused.detail.find("catalog object names") != std::string::npos));
    }
}

TEST_CASE("discovery: descriptions come from the scoped descriptions, the policy's first", "[policy][discovery]") {
    discovery d;
    auto& grant = d.policy.tables.at({"public", "customers"});
    grant.description = "One row per paying customer";
    grant.column_descriptions["plan"] = "Subscription tier";
    auto r = d.decide("SELECT obj_description(c.oid, 'pg_class'), col_description(c.oid, 3) FROM pg_class c");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "('One row per paying customer')::pg_catalog.text"));
    CHECK(has(r.scoped_sql, "('Subscription tier')::pg_catalog.text"));
    CHECK_FALSE(has(r.scoped_sql, "obj_description("));
    CHECK_FALSE(has(r.scoped_sql, "col_description("));
    r = d.decide("SELECT description FROM pg_description");
    REQUIRE(r.allowed);
    CHECK(has(r.scoped_sql, "UNION ALL SELECT p.objoid, p.classoid, p.objsubid, p.description"));
}

TEST_CASE("discovery: monitor mode relays discovery unscoped and says what enforce would scope", "[policy][discovery]") {
    discovery d;
    d.policy.mode = config::policy_mode::monitor;
    const auto r = d.decide("SELECT relname FROM pg_class");
    CHECK(r.allowed);
    CHECK_FALSE(r.would_block);
    CHECK(r.scoped == std::vector<std::string>{"pg_catalog.pg_class"});
    CHECK(r.scoped_sql.empty());
}

TEST_CASE("discovery: a catalog relation the policy grants outright is not scoped", "[policy][discovery]") {
    discovery d;
    d.policy.tables[{"pg_catalog", "pg_class"}] = config::table_grant{{"pg_catalog", "pg_class"}};
    const auto r = d.decide("SELECT relname FROM pg_class");
    CHECK(r.allowed);
    CHECK(r.scoped.empty());
}
