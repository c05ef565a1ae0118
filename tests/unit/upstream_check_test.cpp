// The second wall, checked without a database: catalog rows as the upstream
// would answer catalog_sql::roles/privileges/row_policies, held against a
// configuration (policy::check_upstream).

#include "config_support.hpp"

#include <pgsieve/policy/grants.hpp>
#include <pgsieve/policy/upstream_check.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;

namespace {

const char* const yaml = R"(
upstream: {host: db, database: app, user: reader, password_env: P, wider_privileges: warn}
audit: {sqlite: a.db}
clients:
  - {name: t1, password_env: P, policy: tenant, attributes: {tenant_id: "1"}}
  - {name: cs, password_env: P, policy: cs}
policies:
  tenant:
    statements: [select, insert]
    upstream_user: ai_tenant
    upstream_password_env: P
    tables:
      app.orders: {rows: {column: tenant_id, attribute: tenant_id}, allow: [select, insert]}
  cs:
    statements: [select]
    upstream_user: ai_cs
    upstream_password_env: P
    tables:
      public.customers: {columns: [id, name]}
)";

using policy::row;

row r(std::initializer_list<const char*> values) {
    row out;
    for (const char* v : values) out.push_back(v ? std::optional<std::string>(v) : std::nullopt);
    return out;
}

// A database where everything is as `pgsieve grants` leaves it.
policy::catalog_rows aligned() {
    policy::catalog_rows rows;
    rows.relations = {
        r({"app", "orders", "r", "id", "pg_catalog", "int4", nullptr, nullptr, "owner", "t", "f"}),
        r({"app", "orders", "r", "tenant_id", "pg_catalog", "int4", nullptr, nullptr, "owner", "t", "f"}),
        r({"app", "orders", "r", "secret", "pg_catalog", "text", nullptr, nullptr, "owner", "t", "f"}),
        r({"public", "customers", "r", "id", "pg_catalog", "int8", nullptr, nullptr, "owner", "f", "f"}),
        r({"public", "customers", "r", "name", "pg_catalog", "text", nullptr, nullptr, "owner", "f", "f"}),
        r({"public", "customers", "r", "ssn", "pg_catalog", "text", nullptr, nullptr, "owner", "f", "f"}),
    };
    rows.roles = {
        r({"ai_cs", "f", "f", "f", nullptr, nullptr, nullptr}),
        r({"ai_tenant", "f", "f", "f", nullptr, nullptr, nullptr}),
        r({"reader", "f", "f", "f", nullptr, nullptr, nullptr}),
    };
    rows.privileges = {
        r({"ai_cs", "public", "customers", "id", "SELECT", "f"}),
        r({"ai_cs", "public", "customers", "name", "SELECT", "f"}),
        r({"ai_tenant", "app", "orders", nullptr, "SELECT", "f"}),
        r({"ai_tenant", "app", "orders", "id", "INSERT", "f"}),
        r({"ai_tenant", "app", "orders", "tenant_id", "INSERT", "f"}),
        r({"ai_tenant", "app", "orders", "secret", "INSERT", "f"}),
    };
    rows.row_policies = {r({"app", "orders", "pgsieve_tenant", "PERMISSIVE", "{ai_tenant}", "ALL",
                            "(tenant_id = (current_setting('pgsieve.tenant_id'::text))::integer)", nullptr})};
    return rows;
}

struct checked {
    std::shared_ptr<const config::config> cfg;
    policy::upstream_report report;

    explicit checked(const policy::catalog_rows& rows, std::string text = yaml) {
        test::fake_environment env;
        env.variables = {{"P", "pw"}};
        auto loaded = config::load_text(text, "/etc/pgsieve/pgsieve.yaml", env.get());
        REQUIRE(loaded);
        cfg = *loaded;
        report = policy::check_upstream(*cfg, *policy::catalog_from_rows(rows));
    }

    bool has(policy::finding_level level, std::string_view text) const {
        for (const auto& f : report.findings) {
            if (f.level == level && f.message.find(text) != std::string::npos) return true;
        }
        return false;
    }
};

}  // namespace

TEST_CASE("upstream check: roles aligned by pgsieve grants raise nothing", "[policy][second-wall]") {
    const checked c(aligned());
    INFO(c.report.summary());
    CHECK(c.report.findings.empty());
    CHECK_FALSE(c.report.stops());
    CHECK(c.report.refusal("tenant") == nullptr);
}

TEST_CASE("upstream check: a catalog read without role facts checks nothing", "[policy][second-wall]") {
    auto rows = aligned();
    rows.roles.clear();
    rows.privileges.clear();
    const checked c(rows);
    CHECK(c.report.findings.empty());
}

TEST_CASE("attack: a superuser upstream role stops serve, naming the role and pgsieve grants", "[policy][second-wall]") {
    auto rows = aligned();
    rows.roles[1] = r({"ai_tenant", "t", "t", "f", nullptr, nullptr, nullptr});
    const checked c(rows);
    CHECK(c.report.stops());
    CHECK(c.has(policy::finding_level::stop, "upstream role ai_tenant is a superuser"));
    REQUIRE(c.report.refusal("tenant"));
    CHECK(c.report.refusal("tenant")->fix.find("pgsieve grants -c /etc/pgsieve/pgsieve.yaml --policy tenant") !=
          std::string::npos);
    CHECK(c.report.refusal("cs") == nullptr);  // another policy, another role
    // A superuser also bypasses row-level security: the tenant's clients are refused even when allowed.
    const checked allowed(rows, std::string(yaml).replace(std::string(yaml).find("wider_privileges: warn"), 22,
                                                          "allow_privileged_role: true"));
    CHECK_FALSE(allowed.report.stops());
    CHECK(allowed.has(policy::finding_level::warning, "allowed by upstream.allow_privileged_role"));
    CHECK(allowed.has(policy::finding_level::refuse_clients, "bypasses row-level security"));
}

TEST_CASE("attack: a BYPASSRLS role, or membership of one, stops serve", "[policy][second-wall]") {
    auto rows = aligned();
    rows.roles[0] = r({"ai_cs", "f", "t", "f", nullptr, nullptr, nullptr});
    CHECK(checked(rows).has(policy::finding_level::stop, "ai_cs has BYPASSRLS"));
    rows = aligned();
    rows.roles[0] = r({"ai_cs", "f", "f", "f", "admin", "t", "f"});
    CHECK(checked(rows).has(policy::finding_level::stop, "is a member of admin"));
}

TEST_CASE("upstream check: powers beyond table privileges are listed", "[policy][second-wall]") {
    auto rows = aligned();
    rows.roles[0] = r({"ai_cs", "f", "f", "t", "pg_read_server_files", "f", "f"});
    const checked c(rows);
    CHECK(c.has(policy::finding_level::warning, "ai_cs has CREATEROLE"));
    CHECK(c.has(policy::finding_level::warning, "member of pg_read_server_files"));
    CHECK_FALSE(c.report.stops());
}

TEST_CASE("upstream check: privileges wider than the policy warn, or stop under wider_privileges: refuse",
          "[policy][second-wall]") {
    auto rows = aligned();
    rows.privileges.push_back(r({"ai_cs", "public", "customers", "ssn", "SELECT", "f"}));
    rows.privileges.push_back(r({"ai_cs", "app", "orders", nullptr, "SELECT,TRUNCATE", "f"}));
    rows.privileges.push_back(r({"ai_cs", "public", nullptr, nullptr, "CREATE", "f"}));
    const checked warn(rows);
    CHECK(warn.has(policy::finding_level::warning, "holds more on public.customers than its policies grant: SELECT on column ssn"));
    CHECK(warn.has(policy::finding_level::warning, "holds more on app.orders than its policies grant (none of them grants it): SELECT, TRUNCATE on the whole table"));
    CHECK(warn.has(policy::finding_level::warning, "may CREATE in schema public"));
    CHECK_FALSE(warn.report.stops());
    auto strict = std::string(yaml);
    strict.replace(strict.find("wider_privileges: warn"), 22, "wider_privileges: refuse");
    const checked refuse(rows, strict);
    CHECK(refuse.report.stops());
    CHECK(refuse.has(policy::finding_level::stop, "SELECT on column ssn"));
}

TEST_CASE("upstream check: an owner of a granted table is wider than a reader", "[policy][second-wall]") {
    auto rows = aligned();
    rows.privileges[0] = r({"ai_cs", "public", "customers", nullptr, "SELECT", "t"});
    const checked c(rows);
    CHECK(c.has(policy::finding_level::warning, "ownership"));
}

TEST_CASE("attack: a row-scoped table without row-level security refuses the policy's clients",
          "[policy][second-wall]") {
    auto rows = aligned();
    for (auto& rel : rows.relations) {
        if (*rel[1] == "orders") rel[9] = "f";
    }
    const checked c(rows);
    CHECK_FALSE(c.report.stops());
    const auto* refusal = c.report.refusal("tenant");
    REQUIRE(refusal);
    CHECK(refusal->message.find("row-level security is not enabled on app.orders") != std::string::npos);
    CHECK(refusal->fix.find("ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY") != std::string::npos);
    CHECK(c.report.refusal("cs") == nullptr);
}

TEST_CASE("attack: an owner role without FORCE ROW LEVEL SECURITY sees every tenant", "[policy][second-wall]") {
    auto rows = aligned();
    rows.privileges[2] = r({"ai_tenant", "app", "orders", nullptr, "SELECT", "t"});
    const checked c(rows);
    REQUIRE(c.report.refusal("tenant"));
    CHECK(c.report.refusal("tenant")->fix.find("FORCE ROW LEVEL SECURITY") != std::string::npos);
    for (auto& rel : rows.relations) {
        if (*rel[1] == "orders") rel[10] = "t";
    }
    CHECK(checked(rows).report.refusal("tenant") == nullptr);
}

TEST_CASE("attack: a permissive policy that does not compare with the attribute opens every row",
          "[policy][second-wall]") {
    auto rows = aligned();
    rows.row_policies.push_back(r({"app", "orders", "everyone", "PERMISSIVE", "{public}", "SELECT", "true", nullptr}));
    const checked c(rows);
    REQUIRE(c.report.refusal("tenant"));
    CHECK(c.report.refusal("tenant")->message.find("policy everyone on app.orders") != std::string::npos);
    // Restrictive policies only narrow, and policies for other roles do not apply.
    rows = aligned();
    rows.row_policies.push_back(r({"app", "orders", "narrow", "RESTRICTIVE", "{public}", "ALL", "true", nullptr}));
    rows.row_policies.push_back(r({"app", "orders", "app_role", "PERMISSIVE", "{webapp}", "ALL", "true", nullptr}));
    CHECK(checked(rows).report.refusal("tenant") == nullptr);
}

TEST_CASE("attack: a row policy that mentions the attribute but does not scope by it opens every row",
          "[policy][second-wall]") {
    // The check was a substring test: `… OR true` passed it.
    for (const char* qual : {
             "((tenant_id = (current_setting('pgsieve.tenant_id'::text))::integer) OR true)",
             "(tenant_id <> (current_setting('pgsieve.tenant_id'::text))::integer)",
             "((tenant_id = (current_setting('pgsieve.tenant_id'::text))::integer) OR (id > 0))",
             "(id = (current_setting('pgsieve.tenant_id'::text))::integer)",
             "(tenant_id = (current_setting('pgsieve.tenant_id_other'::text))::integer)",
             "(tenant_id = (current_setting('pgsieve.tenant_id'::text, true))::integer)",
             "(tenant_id = (SELECT (current_setting('pgsieve.tenant_id'::text))::integer))",
             "(tenant_id = COALESCE((current_setting('pgsieve.tenant_id'::text))::integer, tenant_id))",
             "(tenant_id = tenant_id) /* current_setting('pgsieve.tenant_id' */",
         }) {
        INFO(qual);
        auto rows = aligned();
        rows.row_policies[0][6] = qual;
        REQUIRE(checked(rows).report.refusal("tenant"));
    }
    // What PostgreSQL prints for the policy `pgsieve grants` creates, either way round.
    for (const char* qual : {"(tenant_id = (current_setting('pgsieve.tenant_id'::text))::integer)",
                             "((current_setting('pgsieve.tenant_id'::text))::integer = tenant_id)",
                             "(tenant_id = pg_catalog.current_setting('pgsieve.tenant_id'::text)::integer)"}) {
        INFO(qual);
        auto rows = aligned();
        rows.row_policies[0][6] = qual;
        CHECK(checked(rows).report.refusal("tenant") == nullptr);
    }
}

TEST_CASE("attack: a granted insert through a policy without WITH CHECK on the attribute", "[policy][second-wall]") {
    auto rows = aligned();
    rows.row_policies.push_back(r({"app", "orders", "insert_any", "PERMISSIVE", "{ai_tenant}", "INSERT", nullptr, "true"}));
    REQUIRE(checked(rows).report.refusal("tenant"));
}

TEST_CASE("upstream check: a role that does not exist refuses its policy's clients", "[policy][second-wall]") {
    auto rows = aligned();
    rows.roles[0] = r({"ai_cs", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr});
    const checked c(rows);
    REQUIRE(c.report.refusal("cs"));
    CHECK(c.report.refusal("cs")->message == "upstream role ai_cs does not exist");
    CHECK(c.report.refusal("tenant") == nullptr);
}

TEST_CASE("attack: pgsieve grants never demotes a superuser or strips an owner", "[policy][second-wall]") {
    // For a configuration whose upstream user was the bootstrap superuser it
    // printed ALTER ROLE "postgres" ... NOSUPERUSER and REVOKE ALL ... FROM it.
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    auto cfg = config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get());
    REQUIRE(cfg);
    auto rows = aligned();
    CHECK(policy::role_grants(**cfg, *policy::catalog_from_rows(rows)));
    rows.roles[1] = r({"ai_tenant", "t", "f", "f", nullptr, nullptr, nullptr});
    auto refused = policy::role_grants(**cfg, *policy::catalog_from_rows(rows));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().find("upstream role ai_tenant is a superuser") != std::string::npos);
    CHECK(refused.error().find("dedicated upstream role") != std::string::npos);
    rows = aligned();
    rows.privileges.push_back(r({"ai_cs", "public", "customers", nullptr, "SELECT", "t"}));
    const auto owner = policy::role_grants(**cfg, *policy::catalog_from_rows(rows));
    REQUIRE_FALSE(owner);
    CHECK(owner.error().find("upstream role ai_cs owns public.customers") != std::string::npos);
    // The script checks again where it runs: the role running it, any
    // superuser, the bootstrap superuser, an owner.
    const auto sql = policy::grants_sql(**cfg, *policy::role_grants(**cfg, *policy::catalog_from_rows(aligned())));
    CHECK(sql.find("IF 'ai_tenant' IN (current_user, session_user) THEN") != std::string::npos);
    CHECK(sql.find("(oid = 10 OR rolsuper)") != std::string::npos);
    CHECK(sql.find("owns objects; it will not strip it") != std::string::npos);
    // Every comment is one line, whatever the file's path holds.
    auto odd = **cfg;
    odd.source_path = "/etc/x\nDROP TABLE customers; --";
    for (const auto& line : [&] {
             std::vector<std::string> out;
             std::string text = policy::grants_sql(odd, *policy::role_grants(odd, *policy::catalog_from_rows(aligned())));
             for (std::size_t at = 0; at < text.size();) {
                 const auto end = text.find('\n', at);
                 out.push_back(text.substr(at, end - at));
                 at = end == std::string::npos ? text.size() : end + 1;
             }
             return out;
         }())
        CHECK(line.rfind("DROP TABLE", 0) == std::string::npos);
}
