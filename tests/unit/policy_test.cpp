// decide() against a small hand-built catalog: resolution and each rule.
// The data-driven corpus against a real PostgreSQL catalog is in
// tests/policy_corpus/.

#include "config_support.hpp"
#include "corpus_support.hpp"

#include <pgsieve/policy/decide.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;

namespace {

const std::string policy_yaml = R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
classification:
  pii: [public.customers.email, public.customers.ssn]
clients: [{name: cs_bot, password_env: P, policy: cs}]
policies:
  cs:
    statements: [select, explain]
    catalog: introspection
    statement_timeout: 5s
    functions: [public.plan_label]
    tables:
      public.customers: {columns: [id, name, plan, created_at, email]}
      public.usage_daily: {}
      public.accounts: {deny_columns: [phone]}
)";

struct fixture {
    std::shared_ptr<const config::config> cfg;
    policy::catalog cat;

    fixture() {
        test::fake_environment env;
        env.variables = {{"P", "pw"}};
        auto loaded = config::load_text(policy_yaml, "/p.yaml", env.get());
        REQUIRE(loaded);
        cfg = *loaded;
        cat = policy::catalog(
            {
                {"public", "customers", 'r', {"id", "name", "plan", "email", "ssn", "created_at"}},
                {"public", "accounts", 'r', {"id", "customer_id", "email", "phone", "balance"}},
                {"public", "usage_daily", 'r', {"customer_id", "day", "api_calls"}},
                {"hr", "employees", 'r', {"id", "name", "ssn", "salary"}},
                {"pg_catalog", "pg_class", 'r', {"oid", "relname", "relnamespace", "relkind"}},
                {"pg_catalog", "pg_authid", 'r', {"oid", "rolname", "rolpassword"}},
                {"information_schema", "columns", 'v', {"table_schema", "table_name", "column_name"}},
            },
            {
                {"pg_catalog", "count", 'i', 'a', 0, 0, true}, {"pg_catalog", "sum", 'i', 'a', 0, 0, true}, {"pg_catalog", "avg", 'i', 'a', 0, 0, true}, {"pg_catalog", "now", 's', 'f', 0, 0, true},
                {"pg_catalog", "lower", 'i', 'f', 0, 0, true}, {"pg_catalog", "random", 'v', 'f', 0, 0, true},
                {"pg_catalog", "pg_sleep", 'v', 'f', 0, 0, true}, {"pg_catalog", "query_to_xml", 's', 'f', 0, 0, true},
                {"pg_catalog", "nextval", 'v', 'f', 0, 0, true}, {"pg_catalog", "row_to_json", 's', 'f', 0, 0, true},
                {"pg_catalog", "generate_series", 'i', 'f', 0, 0, true}, {"pg_catalog", "pg_get_indexdef", 's', 'f', 0, 0, true},
                {"pg_catalog", "txid_current", 'v', 'f', 0, 0, true}, {"public", "plan_label", 'i', 'f', 0, 0, true},
                {"public", "secret_fn", 's', 'f', 0, 0, true}, {"pg_catalog", "date_trunc", 'i', 'f', 0, 0, true},
            },
            {{"public", "===", "public", "secret_fn", {"pg_catalog", "text"}, {"pg_catalog", "text"}}});
    }

    policy::decision decide(std::string_view sql) {
        policy::context ctx{*cfg, *cfg->find_policy("cs"), cat, {"public"}, "u", nullptr};
        return policy::decide(sql, ctx);
    }
};

}  // namespace

TEST_CASE("policy: ordinary analytical SQL is allowed", "[policy]") {
    fixture fx;
    for (const char* sql : {
             "SELECT id, name FROM customers",
             "SELECT c.name, sum(u.api_calls) FROM customers c JOIN usage_daily u ON u.customer_id = c.id "
             "GROUP BY c.name ORDER BY 2 DESC LIMIT 10",
             "WITH recent AS (SELECT customer_id, api_calls FROM usage_daily WHERE day > now() - interval '7 days') "
             "SELECT customer_id, avg(api_calls) FROM recent GROUP BY 1",
             "SELECT plan_label(plan), count(*) FROM customers GROUP BY 1",
             "SELECT * FROM usage_daily WHERE customer_id IN (SELECT id FROM customers WHERE plan = 'team')",
             "SELECT x.n FROM (SELECT id AS n FROM customers) x",
             "SELECT id, CASE WHEN plan = 'free' THEN 0 ELSE 1 END FROM customers",
             "SELECT date_trunc('week', day), sum(api_calls) OVER (ORDER BY day) FROM usage_daily",
             "SELECT id FROM customers UNION SELECT customer_id FROM usage_daily",
             "SELECT id, balance FROM accounts",
             "EXPLAIN SELECT * FROM usage_daily",
             "SELECT relname FROM pg_class",
             "SELECT table_name, column_name FROM information_schema.columns",
             "BEGIN; SELECT 1; COMMIT",
             "SET statement_timeout = '2s'",
             "SHOW TimeZone",
             "SELECT g FROM generate_series(1, 10) g",
             "",
         }) {
        INFO(sql);
        const auto d = fx.decide(sql);
        INFO(d.message << " | " << d.detail);
        CHECK(d.allowed);
    }
}

TEST_CASE("policy: columns outside the grant are refused with the allowed ones as hint", "[policy]") {
    fixture fx;
    const auto d = fx.decide("SELECT id, ssn FROM customers");
    REQUIRE_FALSE(d.allowed);
    CHECK(policy::to_string(d.rule) == "column");
    CHECK(d.message == "pgsieve: column \"ssn\" does not exist or is not allowed by policy \"cs\"");
    CHECK(d.hint == "allowed columns of public.customers: id, name, plan, created_at");
    CHECK(d.position == 12);
}

TEST_CASE("policy: classified columns need accept_classified", "[policy]") {
    fixture fx;
    const auto d = fx.decide("SELECT email FROM customers");  // listed, but classified pii
    REQUIRE_FALSE(d.allowed);
    CHECK_THAT(d.internal_detail, Catch::Matchers::Contains("classified \"pii\""));
}

TEST_CASE("policy: denied columns hide in every clause", "[policy][security]") {
    fixture fx;
    for (const char* sql : {
             "SELECT id FROM customers WHERE ssn LIKE '078%'",
             "SELECT id FROM customers ORDER BY ssn",
             "SELECT count(*) FROM customers GROUP BY ssn",
             "SELECT count(*) FILTER (WHERE ssn IS NULL) FROM customers",
             "SELECT max(ssn) FROM customers",
             "SELECT * FROM customers",
             "SELECT c.* FROM customers c",
             "SELECT customers FROM customers",
             "SELECT row_to_json(c) FROM customers c",
             "SELECT c::text FROM customers c",
             "SELECT (c).id FROM customers c",
             "SELECT * FROM (SELECT * FROM customers) s",
             "SELECT s.x FROM (SELECT ssn AS x FROM customers) s",
             "WITH t AS (SELECT ssn FROM customers) SELECT 1 FROM t",
             "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.phone = c.name)",
             "SELECT phone FROM accounts",
             "SELECT \"ssn\" FROM customers",
             "SELECT U&\"\\0073sn\" FROM customers",
             "SELECT id FROM customers JOIN accounts USING (email)",
             "SELECT 1 FROM accounts NATURAL JOIN customers",
             "SELECT id FROM customers, LATERAL (SELECT ssn) x",
             "SELECT public.customers.ssn FROM public.customers",
         }) {
        INFO(sql);
        const auto d = fx.decide(sql);
        CHECK_FALSE(d.allowed);
    }
}

TEST_CASE("attack: a non-recursive CTE named like a table reads the table", "[policy][security]") {
    fixture fx;
    // Inside its own body, "customers" is the real table, not the CTE.
    const auto d = fx.decide("WITH customers AS (SELECT * FROM customers) SELECT id FROM customers");
    CHECK_FALSE(d.allowed);
    CHECK(policy::to_string(d.rule) == "column");
    // A CTE does shadow the table for the main query.
    CHECK(fx.decide("WITH customers AS (SELECT id, name FROM public.customers) SELECT * FROM customers").allowed);
    CHECK_FALSE(fx.decide("WITH hr AS (SELECT 1) SELECT * FROM hr.employees").allowed);
}

TEST_CASE("attack: a denied column in an arm of UNION / INTERSECT / EXCEPT", "[policy][security]") {
    fixture fx;
    // libpg_query writes set-operation arms without their node wrapper; an
    // arm the walker skipped would never be checked.
    CHECK_FALSE(fx.decide("SELECT id FROM customers UNION SELECT ssn FROM customers").allowed);
    CHECK_FALSE(fx.decide("SELECT 1 INTERSECT SELECT 1 FROM hr.employees").allowed);
    CHECK_FALSE(fx.decide("SELECT id FROM customers EXCEPT (SELECT id FROM customers UNION SELECT phone FROM accounts)").allowed);
    CHECK(fx.decide("SELECT id FROM customers UNION ALL SELECT customer_id FROM usage_daily").allowed);
}

TEST_CASE("policy: relations outside the policy", "[policy][security]") {
    fixture fx;
    auto d = fx.decide("SELECT name FROM hr.employees");
    REQUIRE_FALSE(d.allowed);
    CHECK(d.message == "pgsieve: relation \"hr.employees\" does not exist or is not allowed by policy \"cs\"");
    CHECK(d.hint == "allowed tables: public.accounts, public.customers, public.usage_daily");
    CHECK_FALSE(fx.decide("SELECT rolpassword FROM pg_authid").allowed);
    CHECK_FALSE(fx.decide("SELECT * FROM nowhere").allowed);
    CHECK_FALSE(fx.decide("SELECT 1 FROM customers WHERE id IN (SELECT id FROM hr.employees)").allowed);
}

TEST_CASE("policy: statement kinds and the published escapes", "[policy][security]") {
    fixture fx;
    for (const char* sql : {
             "COMMIT; DROP TABLE customers",
             "COMMIT; CREATE TABLE x (a int); SELECT 1",
             "DELETE FROM customers",
             "INSERT INTO customers (id) VALUES (1)",
             "UPDATE customers SET name = 'x'",
             "WITH d AS (DELETE FROM customers RETURNING id) SELECT * FROM d",
             "SELECT id INTO copy_of FROM customers",
             "SELECT id FROM customers FOR UPDATE",
             "EXPLAIN ANALYZE DELETE FROM customers",
             "EXPLAIN DELETE FROM customers",
             "SELECT query_to_xml('SELECT ssn FROM customers', true, true, '')",
             "SELECT nextval('s')",
             "SELECT pg_sleep(10)",
             "SELECT txid_current()",
             "SELECT secret_fn()",
             "SELECT * FROM secret_fn()",
             "SELECT 1 === 2",
             "SET search_path = hr",
             "SET ROLE postgres",
             "SET SESSION AUTHORIZATION postgres",
             "SET statement_timeout = 0",
             "SET client_encoding = 'SJIS'",
             "BEGIN READ WRITE",
             "DO $$ BEGIN PERFORM 1; END $$",
             "COPY customers FROM STDIN",
             "COPY customers TO '/tmp/x'",
             "COPY (SELECT ssn FROM customers) TO STDOUT",
             "COPY customers TO STDOUT",
             "LISTEN x",
             "VACUUM customers",
             "EXECUTE never_prepared",
             "MERGE INTO customers USING accounts ON true WHEN MATCHED THEN DELETE",
         }) {
        INFO(sql);
        const auto d = fx.decide(sql);
        CHECK_FALSE(d.allowed);
    }
    CHECK(fx.decide("COPY customers (id, name) TO STDOUT").allowed);
    CHECK(fx.decide("EXPLAIN ANALYZE SELECT id FROM customers").allowed);
    CHECK(fx.decide("DECLARE c CURSOR FOR SELECT id FROM customers; FETCH 10 FROM c; CLOSE c").allowed);
}

TEST_CASE("policy: a refusal names the statement of a multi-statement string", "[policy]") {
    fixture fx;
    const auto d = fx.decide("SELECT 1; DROP TABLE customers");
    REQUIRE_FALSE(d.allowed);
    CHECK(d.message == "pgsieve: DROP statements are not allowed by policy \"cs\"");
    CHECK_THAT(d.detail, Catch::Matchers::Contains("statement 2 of 2; none of them runs"));
    CHECK(d.position == 11);
}

TEST_CASE("policy: what was read is reported for the audit", "[policy]") {
    fixture fx;
    const auto d = fx.decide("SELECT c.name, sum(u.api_calls) FROM customers c JOIN usage_daily u ON u.customer_id = c.id GROUP BY 1");
    REQUIRE(d.allowed);
    CHECK(d.tables == std::vector<std::string>{"public.customers", "public.usage_daily"});
    auto columns = d.columns;
    std::sort(columns.begin(), columns.end());
    CHECK(columns == std::vector<std::string>{"public.customers.id", "public.customers.name",
                                              "public.usage_daily.api_calls", "public.usage_daily.customer_id"});
    CHECK(d.functions == std::vector<std::string>{"pg_catalog.sum"});
}

#include <pgsieve/policy/decision_cache.hpp>

#include <fmt/format.h>

TEST_CASE("decision cache: keyed by generation, policy, search_path and text; bounded", "[policy]") {
    policy::decision_cache cache(2);
    auto refused = std::make_shared<policy::decision>();
    refused->allowed = false;
    const policy::decision_cache::scope a{1, "cs", "public"};
    cache.insert(a, "SELECT 1", refused);
    REQUIRE(cache.find(a, "SELECT 1"));
    CHECK_FALSE(cache.find(a, "SELECT 1")->allowed);
    CHECK_FALSE(cache.find({2, "cs", "public"}, "SELECT 1"));   // after a reload
    CHECK_FALSE(cache.find({1, "ops", "public"}, "SELECT 1"));  // another policy
    CHECK_FALSE(cache.find({1, "cs", "hr"}, "SELECT 1"));       // another search_path
    cache.insert(a, "SELECT 2", std::make_shared<policy::decision>());
    cache.find(a, "SELECT 1");        // most recently used
    cache.insert(a, "SELECT 3", std::make_shared<policy::decision>());  // evicts SELECT 2
    CHECK(cache.size() == 2);
    CHECK(cache.find(a, "SELECT 1"));
    CHECK_FALSE(cache.find(a, "SELECT 2"));
}

TEST_CASE("attack: long statements cannot grow the decision cache past its byte bound", "[policy][security]") {
    // 256 entries of up to 1 MiB each, every key stored twice, once let one session hold ~512 MiB.
    policy::decision_cache cache(256, 1 << 20);
    const policy::decision_cache::scope a{1, "cs", "public"};
    for (int i = 0; i < 1000; ++i) {
        auto d = std::make_shared<policy::decision>();
        d->scoped_sql = std::string(20000, 'x');
        cache.insert(a, fmt::format("SELECT {} /* {} */", i, std::string(100000, 'y')), d);
        CHECK(cache.bytes() <= (1u << 20));
    }
    CHECK(cache.size() > 0);
    CHECK(cache.size() < 10);
    // One larger than a quarter of the bound is decided each time, never kept.
    cache.insert(a, std::string(300000, 'z'), std::make_shared<policy::decision>());
    CHECK_FALSE(cache.find(a, std::string(300000, 'z')));
    // Replacing an entry keeps the count right.
    cache.insert(a, "SELECT 1", std::make_shared<policy::decision>());
    const auto before = cache.bytes();
    cache.insert(a, "SELECT 1", std::make_shared<policy::decision>());
    CHECK(cache.bytes() == before);
}

TEST_CASE("attack: EXPLAIN whose plan would name hidden objects is refused", "[policy][security]") {
    // A plan names the relations behind views, inheritance children,
    // row-level security's filters and sub-plans, the indexes it uses and
    // inlined SQL functions' bodies: none of it is in the statement.
    fixture fx;
    auto rel = [](std::string name, char kind = 'r') {
        policy::relation_info r{"public", std::move(name), kind, {"id", "label", "secret"}};
        return r;
    };
    auto plain = rel("plain_rows");
    plain.index_columns = {"id"};
    auto indexed_hidden = rel("indexed_hidden");
    indexed_hidden.index_columns = {"id", "secret"};
    auto expression_index = rel("expression_index");
    expression_index.index_columns = {""};
    auto inherited = rel("inherited");
    inherited.has_subclass = true;
    auto guarded = rel("guarded");
    guarded.row_security = true;
    const policy::catalog cat({plain, indexed_hidden, expression_index, inherited, guarded, rel("a_view", 'v'),
                               rel("partitioned", 'p')},
                              {{"public", "inlined", 'i', 'f', 1, 0, false}, {"pg_catalog", "count", 'i', 'a', 0, 0, true}},
                              {});
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    std::string yaml = R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
clients: [{name: b, password_env: P, policy: p}]
policies:
  p:
    statements: [select, explain]
    functions: [public.inlined]
    tables:
)";
    for (const auto* t : {"plain_rows", "indexed_hidden", "expression_index", "inherited", "guarded", "a_view",
                          "partitioned"})
        yaml += fmt::format("      public.{}: {{deny_columns: [secret]}}\n", t);
    auto cfg = config::load_text(yaml, "/p.yaml", env.get());
    if (!cfg) FAIL(cfg.error().front().str());
    const policy::context ctx{**cfg, *(*cfg)->find_policy("p"), cat, {"public"}, "u", nullptr};
    CHECK(policy::decide("EXPLAIN SELECT id, label FROM plain_rows", ctx).allowed);
    CHECK(policy::decide("EXPLAIN ANALYZE SELECT count(*) FROM plain_rows", ctx).allowed);
    for (const auto* sql : {"EXPLAIN SELECT id FROM indexed_hidden", "EXPLAIN SELECT id FROM expression_index",
                            "EXPLAIN SELECT id FROM inherited", "EXPLAIN (FORMAT JSON) SELECT id FROM guarded",
                            "EXPLAIN SELECT id FROM a_view", "EXPLAIN SELECT id FROM partitioned",
                            "EXPLAIN SELECT inlined(id) FROM plain_rows", "EXPLAIN ANALYZE SELECT id FROM guarded",
                            "PREPARE q AS SELECT id FROM plain_rows; EXPLAIN EXECUTE q"}) {
        INFO(sql);
        const auto d = policy::decide(sql, ctx);
        CHECK_FALSE(d.allowed);
        CHECK(d.rule == policy::rule::statement);
        CHECK(d.message == "pgsieve: EXPLAIN of this statement could show objects policy \"p\" does not show");
        // The reviewer is told which object; the client is not.
        CHECK_FALSE(d.internal_detail.empty());
        CHECK(d.detail.find("secret") == std::string::npos);
    }
    // The same statements without EXPLAIN are allowed: only the plan is refused.
    CHECK(policy::decide("SELECT id FROM indexed_hidden", ctx).allowed);
    CHECK(policy::decide("SELECT id FROM guarded", ctx).allowed);
}

TEST_CASE("mask: a bare projection is allowed and its output positions are masked", "[policy][mask]") {
    const auto cfg = test::corpus_config();
    const policy::context ctx{*cfg, *cfg->find_policy("masked"), *test::corpus_catalog(), {"public"}, "ai_readonly",
                              nullptr};
    const auto* customers = test::corpus_catalog()->relation("public", "customers");
    REQUIRE(customers);
    auto d = policy::decide("SELECT id, ssn, email, name FROM customers", ctx);
    REQUIRE(d.allowed);
    REQUIRE(d.masked.size() == 2);
    CHECK(d.masked[0].position == 1);
    CHECK(d.masked[0].method == config::mask_method::last4);
    CHECK(d.masked[0].column == "public.customers.ssn");
    CHECK(d.masked[0].table_oid == customers->oid);
    CHECK(d.masked[1].position == 2);
    CHECK(d.masked[1].method == config::mask_method::email_domain);
    CHECK(d.redact_errors);  // an upstream error must not print a masked value
    // Through a star, a derived table and a CTE, at the positions they take.
    d = policy::decide("WITH m AS (SELECT * FROM customers) SELECT x.* FROM (SELECT * FROM m) x", ctx);
    REQUIRE(d.allowed);
    std::vector<std::size_t> positions;
    for (const auto& m : d.masked) positions.push_back(m.position);
    std::vector<std::size_t> expected;
    for (std::size_t i = 0; i < customers->columns.size(); ++i)
        if (customers->columns[i] == "email" || customers->columns[i] == "ssn") expected.push_back(i);
    CHECK(positions == expected);
    // The refusal names the column, the mask and what to do.
    d = policy::decide("SELECT id FROM customers WHERE ssn LIKE '1%'", ctx);
    REQUIRE_FALSE(d.allowed);
    CHECK(d.message == "pgsieve: column \"public.customers.ssn\" is masked (last4) for policy \"masked\" and may only "
                       "be selected as is; it is used in WHERE");
    CHECK(d.detail.starts_with("rule: mask"));
    // Monitor mode would mask nothing: it relays as sent.
    CHECK(policy::decide("SELECT id FROM customers", ctx).masked.empty());
}
