// The configuration contract loads with the meaning the example file gives it.

#include "config_support.hpp"

#include <pgsieve/wire/scram.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace pgsieve;
using pgsieve::test::fake_environment;

namespace {

std::string read_fixture(const std::string& name) {
    std::ifstream in(std::string(PGSIEVE_FIXTURES) + "/" + name);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string replace(std::string text, std::string_view from, std::string_view to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("the contract example loads with every key's meaning", "[config]") {
    // The example's verifier is elided ("…"); everything else is taken as is.
    const auto verifier = wire::scram::to_string(*wire::scram::make_verifier("cs-pass", "0123456789abcdef", 4096));
    const std::string yaml = replace(read_fixture("pgsieve.example.yaml"), "SCRAM-SHA-256$4096:…", verifier);
    fake_environment env;
    env.variables = {{"PGSIEVE_UPSTREAM_PASSWORD", "up-secret"},
                     {"PGSIEVE_OPS_BOT_PASSWORD", "ops-pass"},
                     {"PGSIEVE_MASK_KEY", "a-mask-key-of-at-least-thirty-two-bytes"}};
    env.files = {{"/etc/pgsieve/server.crt", "cert"},
                 {"/etc/pgsieve/server.key", "key"},
                 {"/etc/ssl/certs/ca-certificates.crt", "ca"}};

    const auto loaded = config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get());
    if (!loaded) {
        for (const auto& e : loaded.error()) UNSCOPED_INFO(e.str());
    }
    REQUIRE(loaded);
    const config::config& cfg = **loaded;

    CHECK(cfg.listen.address == "127.0.0.1");
    CHECK(cfg.listen.port == 6432);
    REQUIRE(cfg.listen.tls);
    CHECK(cfg.listen.tls->cert_file == "/etc/pgsieve/server.crt");
    CHECK(cfg.listen.tls->mode == config::tls_mode::prefer);
    CHECK(cfg.listen.max_connections == 500);
    CHECK(cfg.listen.auth_timeout == std::chrono::seconds(10));
    CHECK(cfg.listen.idle_timeout == std::chrono::minutes(30));
    CHECK(cfg.listen.max_message_bytes == 67108864);
    REQUIRE(cfg.admin);
    CHECK(cfg.admin->port == 9187);

    CHECK(cfg.upstream.host == "127.0.0.1");
    CHECK(cfg.upstream.database == "app");
    CHECK(cfg.upstream.user == "ai_readonly");
    CHECK(cfg.upstream.password == "up-secret");
    CHECK(cfg.upstream.ssl == config::sslmode::prefer);
    CHECK(cfg.upstream.search_path == std::vector<std::string>{"public"});
    CHECK(cfg.upstream.catalog_refresh == std::chrono::seconds(60));

    CHECK(cfg.audit.sqlite == "/var/lib/pgsieve/audit.db");
    CHECK(cfg.audit.sql == config::store_sql::full);
    CHECK(cfg.audit.failure == config::on_failure::block);
    CHECK(cfg.audit.overflow == config::on_overflow::wait);
    CHECK(cfg.audit.flush_interval == std::chrono::milliseconds(50));

    REQUIRE(cfg.classification.contains("pii"));
    CHECK(cfg.classification.at("pii").contains(config::column_name{{"hr", "employees"}, "ssn"}));
    {
        // mask: {pii: hash}: the pii columns of the tables it lists, masked by hash, keyed
        // (customers.ssn is outside its column allowlist: denied, which wins).
        const auto* cs = cfg.find_policy("customer-success");
        REQUIRE(cs);
        CHECK(cs->masks.at(config::column_name{{"public", "customers"}, "ssn"}) == config::mask_method::hash);
        CHECK_FALSE(cs->masks.contains(config::column_name{{"hr", "employees"}, "ssn"}));
        CHECK(cs->mask_key == "a-mask-key-of-at-least-thirty-two-bytes");
    }

    REQUIRE(cfg.clients.size() == 2);
    CHECK(cfg.clients[0].name == "cs_bot");
    CHECK(cfg.clients[0].verifier == verifier);
    CHECK(cfg.clients[0].max_connections == 20);
    // ops_bot's plain password was hashed at load; the verifier checks it.
    const auto ops = wire::scram::parse_verifier(cfg.find_client("ops_bot")->verifier);
    REQUIRE(ops);
    CHECK(ops->stored_key == wire::scram::make_verifier("ops-pass", ops->salt, ops->iterations)->stored_key);

    const auto* cs = cfg.find_policy("customer-success");
    REQUIRE(cs);
    CHECK(cs->owner == "cs-data@example.com");
    CHECK(cs->mode == config::policy_mode::enforce);
    CHECK(cs->statements == std::set{config::statement_kind::select, config::statement_kind::explain});
    CHECK(cs->catalog == config::catalog_access::introspection);
    CHECK(cs->max_rows == 1000u);
    CHECK(cs->statement_timeout == std::chrono::seconds(5));
    CHECK(cs->functions == std::vector<config::qualified_name>{{"public", "plan_label"}});
    REQUIRE(cs->tables.size() == 3);
    const auto& customers = cs->tables.at({"public", "customers"});
    CHECK(customers.columns == std::vector<std::string>{"id", "name", "plan", "created_at"});
    CHECK(customers.allow == std::set{config::table_verb::select});
    CHECK_FALSE(cs->tables.at({"public", "usage_daily"}).columns);
    CHECK(cs->tables.at({"public", "accounts"}).deny_columns == std::vector<std::string>{"email", "phone"});

    const auto* ops_policy = cfg.find_policy("support-ops");
    REQUIRE(ops_policy);
    CHECK(ops_policy->tables.at({"public", "tickets"}).allow ==
          std::set{config::table_verb::select, config::table_verb::insert});
    CHECK(cfg.warnings.empty());
    CHECK(cfg.source_text == yaml);
}

TEST_CASE("defaults apply to what a minimal file leaves out", "[config]") {
    fake_environment env;
    env.variables = {{"P", "pw"}};
    const auto loaded = config::load_text(R"(upstream:
  host: db.internal
  database: app
  user: reader
audit:
  sqlite: audit.db
clients:
  - name: bot
    password_env: P
    policy: p
policies:
  p:
    statements: [select]
    tables:
      public.t:
)",
                                          "/srv/pgsieve/pgsieve.yaml", env.get());
    REQUIRE(loaded);
    const auto& cfg = **loaded;
    CHECK(cfg.listen.port == 6432);
    CHECK_FALSE(cfg.listen.tls);
    CHECK_FALSE(cfg.admin);
    CHECK(cfg.upstream.port == 5432);
    CHECK_FALSE(cfg.upstream.password);
    // Relative paths are anchored at the configuration file, not the cwd.
    CHECK(cfg.audit.sqlite == "/srv/pgsieve/audit.db");
    const auto& p = *cfg.find_policy("p");
    CHECK(p.mode == config::policy_mode::enforce);
    CHECK(p.catalog == config::catalog_access::none);
    CHECK_FALSE(p.max_rows);
    CHECK(p.tables.at({"public", "t"}).allow == std::set{config::table_verb::select});
}

TEST_CASE("a policy no client uses is a warning, not an error", "[config]") {
    fake_environment env;
    env.variables = {{"P", "pw"}};
    const auto loaded = config::load_text(R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
clients:
  - {name: bot, password_env: P, policy: used}
policies:
  used: {statements: [select]}
  spare: {statements: [select]}
)",
                                          "/x.yaml", env.get());
    REQUIRE(loaded);
    REQUIRE((*loaded)->warnings.size() == 1);
    CHECK((*loaded)->warnings[0].line == 7);
    CHECK((*loaded)->warnings[0].key == "policies.spare");
}

TEST_CASE("attack: a reload cannot silently change the audit store's password or TLS (restart-only keys)", "[config]") {
    // audit.export.postgresql's password, sslmode and sslrootcert were
    // "reloaded" while the exporter kept the old values. The audit section is
    // compared whole; per-statement limits still reload.
    const std::string base = R"(upstream: {host: db, database: app, user: u, password_env: UP}
audit:
  sqlite: /a.db
  export:
    postgresql: {host: store, database: audit, user: writer, password_env: STORE, sslmode: require}
clients: [{name: c, password_env: UP, policy: p}]
policies: {p: {statements: [select], tables: {public.t: {}}}}
)";
    fake_environment env;
    env.variables = {{"UP", "u"}, {"STORE", "one"}, {"STORE2", "two"}};
    const auto load = [&](const std::string& text) {
        auto loaded = config::load_text(text, "/p.yaml", env.get());
        if (!loaded) FAIL(loaded.error().front().str());
        return *loaded;
    };
    const auto a = load(base);
    const auto changed = [&](std::string_view from, std::string_view to) {
        std::string text = base;
        text.replace(text.find(from), from.size(), to);
        return config::restart_only_changes(*a, *load(text));
    };
    CHECK(changed("password_env: STORE", "password_env: STORE2") == std::vector<std::string>{"audit"});
    CHECK(changed("sslmode: require", "sslmode: disable") == std::vector<std::string>{"audit"});
    CHECK(changed("upstream: {host: db", "listen: {max_statement_bytes: 100000}\nupstream: {host: db").empty());
    CHECK(changed("upstream: {host: db", "listen: {port: 7000}\nupstream: {host: db") ==
          std::vector<std::string>{"listen.port"});
    CHECK(changed("public.t: {}", "public.u: {}").empty());
}
