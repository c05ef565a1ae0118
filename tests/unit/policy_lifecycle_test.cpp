// policy test / propose / lint without an audit log or a server: recorded
// statements and a hand-built catalog in, verdict diffs, drafts and
// findings out. The same commands end to end are in
// tests/integration/test_policy_lifecycle.py.

#include "config_support.hpp"

#include <pgsieve/config/sections.hpp>
#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/lint.hpp>
#include <pgsieve/policy/propose.hpp>
#include <pgsieve/policy/replay.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace pgsieve;

namespace {

const std::string base_yaml = R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
classification:
  pii: [public.customers.ssn]
clients:
  - {name: cs_bot, password_env: P, policy: cs}
  - {name: ops_bot, password_env: P, policy: ops, attributes: {tenant: "7"}}
policies:
  cs:
    owner: cs@example.com
    statement_timeout: 5s
    statements: [select]
    tables:
      public.customers: {columns: [id, name]}
      public.usage_daily: {}
  ops:
    owner: ops@example.com
    statement_timeout: 5s
    budgets: {statements: 100/1h, bytes: 10MB/1d, statement_time: 10m/1h}
    statements: [select, update]
    tables:
      public.tickets: {allow: [select, update], rows: {column: tenant, attribute: tenant}}
)";

std::shared_ptr<const config::config> load(const std::string& yaml) {
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    auto loaded = config::load_text(yaml, "/p.yaml", env.get());
    if (!loaded) FAIL(loaded.error().front().str());
    return *loaded;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

policy::catalog make_catalog() {
    return policy::catalog(
        {
            {"public", "customers", 'r', {"id", "name", "plan", "ssn"}},
            {"public", "usage_daily", 'r', {"customer_id", "day", "api_calls"}},
            {"public", "tickets", 'r', {"id", "tenant", "subject", "status"}},
        },
        {{"pg_catalog", "count", 'i', 'a', 0, 0, true}, {"public", "touch", 'v', 'f', 0, 0, true}}, {});
}

policy::recorded_statement recorded(std::string sql, std::string verdict = "allowed", std::string rule = "",
                                    std::string client = "cs_bot", std::string ts = "2026-12-01T00:00:00Z") {
    policy::recorded_statement s;
    s.ts = std::move(ts);
    s.client = std::move(client);
    s.fingerprint = "fp:" + sql;
    s.sql = std::move(sql);
    s.verdict = std::move(verdict);
    s.rule = std::move(rule);
    return s;
}

}  // namespace

TEST_CASE("policy test: a narrowing change is newly refused, a widening newly allowed, counted per statement",
          "[policy][lifecycle]") {
    const auto base = load(base_yaml);
    const auto cat = make_catalog();
    const std::vector<policy::recorded_statement> traffic = {
        recorded("SELECT id, name FROM customers", "allowed", "", "cs_bot", "2026-12-01T00:00:01Z"),
        recorded("SELECT id, name FROM customers", "allowed", "", "cs_bot", "2026-12-01T00:00:03Z"),
        recorded("SELECT day FROM usage_daily"),
        recorded("SELECT plan FROM customers", "blocked", "column"),
        recorded("SELECT plan FROM customers", "blocked", "column"),
        recorded("SELECT plan FROM customers", "blocked", "column"),
    };
    SECTION("unchanged") {
        policy::replayer r(*base, cat);
        for (const auto& s : traffic) r.add(s);
        const auto result = r.finish();
        CHECK(result.replayed == 6);
        CHECK(result.distinct == 3);
        CHECK(result.changed.empty());
    }
    SECTION("narrowing: a table removed") {
        const auto candidate = load(replaced(base_yaml, "      public.usage_daily: {}\n", ""));
        policy::replayer r(*candidate, cat);
        for (const auto& s : traffic) r.add(s);
        const auto result = r.finish();
        REQUIRE(result.groups.size() == 1);
        CHECK(result.changed.at(policy::verdict_change::newly_refused) == 1);
        CHECK(result.groups[0].rule_after == "relation");
        CHECK(result.groups[0].example == "SELECT day FROM usage_daily");
    }
    SECTION("widening: a column added; the same statements decided under both configurations") {
        const auto candidate = load(replaced(base_yaml, "[id, name]", "[id, name, plan]"));
        policy::replayer r(*candidate, cat, base.get());
        for (const auto& s : traffic) r.add(s);
        const auto result = r.finish();
        REQUIRE(result.groups.size() == 1);
        const auto& g = result.groups[0];
        CHECK(g.change == policy::verdict_change::newly_allowed);
        CHECK(g.count == 3);
        CHECK(g.rule_before == "column");
        CHECK(result.changed.at(policy::verdict_change::newly_allowed) == 3);
    }
    SECTION("widening to a classified column: named, and counted apart") {
        auto text = replaced(base_yaml, "[id, name]", "[id, name, ssn]");
        text = replaced(text, "    statements: [select]\n    tables:\n      public.customers",
                        "    statements: [select]\n    accept_classified: [pii]\n    tables:\n      public.customers");
        const auto candidate = load(text);
        policy::replayer r(*candidate, cat);
        r.add(recorded("SELECT name, ssn FROM customers", "blocked", "column"));
        r.add(recorded("SELECT plan FROM customers", "blocked", "column"));
        const auto result = r.finish();
        CHECK(result.newly_allowed_classified == 1);
        REQUIRE(result.groups.size() == 1);  // plan is still not granted
        CHECK(result.groups[0].classified == std::vector<std::string>{"public.customers.ssn"});
    }
    SECTION("another rule: the client moved to a policy without the table") {
        const auto candidate = load(replaced(base_yaml, "password_env: P, policy: cs}",
                                     "password_env: P, policy: ops, attributes: {tenant: \"7\"}}"));
        policy::replayer r(*candidate, cat);
        r.add(recorded("SELECT plan FROM customers", "blocked", "column"));
        const auto result = r.finish();
        REQUIRE(result.groups.size() == 1);
        CHECK(result.groups[0].change == policy::verdict_change::changed_rule);
        CHECK(result.groups[0].policy == "ops");
        CHECK(result.groups[0].rule_after == "relation");
    }
    SECTION("a client gone from the configuration is refused by the policy rule") {
        policy::replayer r(*base, cat);
        r.add(recorded("SELECT 1", "allowed", "", "ghost"));
        const auto result = r.finish();
        REQUIRE(result.groups.size() == 1);
        CHECK(result.groups[0].rule_after == "policy");
        CHECK(result.groups[0].policy.empty());
    }
}

TEST_CASE("policy test: what cannot be replayed is counted, never guessed", "[policy][lifecycle]") {
    const auto base = load(base_yaml);
    const auto cat = make_catalog();
    policy::replayer r(*base, cat);
    auto normalized = recorded("SELECT id FROM customers WHERE id = $1");
    normalized.normalized = true;
    r.add(normalized);
    r.add(recorded("EXECUTE q(1)"));
    r.add(recorded("FETCH 10 FROM c"));
    r.add(recorded(""));
    const auto result = r.finish();
    CHECK(result.recorded == 4);
    CHECK(result.replayed == 0);
    CHECK(result.skipped_normalized == 1);
    CHECK(result.skipped_session == 2);
    CHECK(result.skipped_no_text == 1);
}

TEST_CASE("policy propose: the draft grants what was used and allows all of it", "[policy][lifecycle]") {
    const auto base = load(base_yaml);
    const auto cat = make_catalog();
    policy::proposer p(*base, cat, "ops_bot", "ops");
    p.add(recorded("SELECT subject FROM tickets WHERE status = 'open'", "allowed", "", "ops_bot"));
    p.add(recorded("UPDATE tickets SET status = 'closed' WHERE id = 7", "allowed", "", "ops_bot"));
    p.add(recorded("SELECT name, ssn FROM customers", "would_block", "column", "ops_bot"));
    p.add(recorded("SELECT count(*) FROM usage_daily", "would_block", "relation", "ops_bot"));
    p.add(recorded("SELECT touch()", "would_block", "function", "ops_bot"));
    p.add(recorded("DROP TABLE tickets", "blocked", "statement", "ops_bot"));
    p.add(recorded("UPDATE tickets SET status = 'x' WHERE true", "would_block", "guardrail", "ops_bot"));
    const auto draft = p.finish();
    CHECK(draft.used == 6);
    CHECK(draft.unbounded.contains({"public", "tickets"}));
    CHECK(draft.policy.tables.at({"public", "tickets"}).unbounded_writes);
    CHECK(draft.policy.statements ==
          std::set<config::statement_kind>{config::statement_kind::select, config::statement_kind::update});
    const auto& tickets = draft.policy.tables.at({"public", "tickets"});
    CHECK(tickets.allow == std::set<config::table_verb>{config::table_verb::select, config::table_verb::update});
    CHECK(*tickets.columns == std::vector<std::string>{"id", "subject", "status"});
    // ssn is classified: listed, never granted; the statement that read it stays refused.
    CHECK(*draft.policy.tables.at({"public", "customers"}).columns == std::vector<std::string>{"name"});
    CHECK(draft.classified.contains({{"public", "customers"}, "ssn"}));
    REQUIRE(draft.still_refused.size() == 1);
    CHECK(draft.still_refused.begin()->second.first == "SELECT name, ssn FROM customers");
    // count(*) reads no column: the allowlist names one that says nothing.
    CHECK(*draft.policy.tables.at({"public", "usage_daily"}).columns == std::vector<std::string>{"customer_id"});
    CHECK(draft.policy.functions == std::vector<config::qualified_name>{{"public", "touch"}});
    CHECK(draft.refused.at("statement").count == 1);

    // The YAML loads as the policy it describes.
    const auto yaml = draft.yaml("test");
    CHECK(yaml.find("# - ssn") != std::string::npos);
    const auto sections = config::policy_sections(yaml);
    REQUIRE(sections.contains("ops"));
    std::string text = base_yaml.substr(0, base_yaml.find("policies:")) + yaml.substr(yaml.find("policies:"));
    text += R"(  cs:
    statements: [select]
    tables: {public.customers: {columns: [id]}}
)";
    const auto reloaded = load(text);
    const auto& ops = *reloaded->find_policy("ops");
    CHECK(ops.tables.at({"public", "tickets"}).allow == tickets.allow);
    CHECK(ops.tables.at({"public", "tickets"}).unbounded_writes);
    CHECK(ops.functions == draft.policy.functions);
    CHECK(ops.owner == "ops@example.com");
    CHECK(ops.budgets == base->find_policy("ops")->budgets);
}

TEST_CASE("policy lint: each rule on a sloppy policy, nothing on a tidy one", "[policy][lifecycle]") {
    const auto cfg = load(R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
classification:
  pii: [public.customers.ssn]
clients: [{name: a, password_env: P, policy: sloppy}, {name: b, password_env: P, policy: tidy}]
policies:
  sloppy:
    mode: monitor
    statements: [select, update]
    catalog: introspection
    accept_classified: [pii]
    functions: [public.touch]
    tables:
      public.customers: {}
      public.tickets: {allow: [select, update], description: Tickets}
  tidy:
    owner: t@example.com
    statement_timeout: 5s
    statements: [select]
    accept_classified: {pii: {reason: identity checks}}
    tables:
      public.customers: {columns: [id, ssn]}
)");
    const auto cat = make_catalog();
    const policy::lint_inputs in{&cat, nullptr, nullptr, ""};
    const auto findings = policy::lint(*cfg, in);
    std::multiset<std::string> rules;
    for (const auto& f : findings) {
        CHECK(f.policy == "sloppy");
        CHECK(f.line > 0);
        CHECK(!f.fix.empty());
        rules.insert(std::string(policy::info(f.rule).id));
    }
    CHECK(rules == std::multiset<std::string>{"PGSL001", "PGSL002", "PGSL003", "PGSL004", "PGSL005", "PGSL006",
                                              "PGSL007", "PGSL010"});
    const auto at = [&](policy::lint_rule r) {
        return std::find_if(findings.begin(), findings.end(), [r](const auto& f) { return f.rule == r; })->line;
    };
    CHECK(at(policy::lint_rule::monitor_mode) == 8);
    CHECK(at(policy::lint_rule::classified_without_reason) == 11);
    CHECK(at(policy::lint_rule::volatile_function) == 12);
    CHECK(at(policy::lint_rule::all_columns_with_classified) == 14);
    CHECK(at(policy::lint_rule::write_without_row_scope) == 15);

    SECTION("unused grants from the audit's usage") {
        std::map<std::string, policy::grant_usage> usage;
        auto& u = usage["tidy"];
        u.statements = 4;
        u.kinds = {config::statement_kind::select};
        u.tables = {{"public", "customers"}};
        u.columns = {{{"public", "customers"}, "id"}};
        const policy::lint_inputs with_usage{nullptr, nullptr, &usage, "30d"};
        std::vector<std::string> unused;
        for (const auto& f : policy::lint(*cfg, with_usage))
            if (f.rule == policy::lint_rule::unused_grant && f.policy == "tidy") unused.push_back(f.message);
        REQUIRE(unused.size() == 1);
        CHECK(unused[0].starts_with("column public.customers.ssn of policy \"tidy\" was not used"));
    }
    SECTION("SARIF names each rule once and points every result at its line") {
        const auto sarif = policy::lint_sarif(findings, "/p.yaml", "1.0");
        CHECK(sarif.find("\"version\":\"2.1.0\"") != std::string::npos);
        CHECK(sarif.find("\"ruleId\":\"PGSL007\"") != std::string::npos);
        CHECK(sarif.find("\"startLine\":12") != std::string::npos);
    }
}

TEST_CASE("config sections: a recorded configuration's policies and store_sql, without loading it",
          "[config][lifecycle]") {
    const std::string text = R"(audit: {sqlite: a.db, store_sql: normalized}
clients: [{name: a, password: "SCRAM-SHA-256$<redacted>"}]
policies:
  p: {owner: me, statements: [select]}
  q: {statements: [select]}
)";
    const auto sections = config::policy_sections(text);
    REQUIRE(sections.size() == 2);
    CHECK(sections.at("p").owner == "me");
    CHECK(sections.at("q").owner.empty());
    CHECK(config::recorded_sql_mode(text) == config::store_sql::normalized);
    CHECK(config::recorded_sql_mode("audit: {sqlite: a.db}") == config::store_sql::full);
    CHECK(!config::recorded_sql_mode("{ not yaml").has_value());
    CHECK(config::policy_sections("- a list").empty());
}

TEST_CASE("config: accept_classified as a mapping records each label's reason", "[config][lifecycle]") {
    const auto cfg = load(replaced(base_yaml, "    statements: [select]\n    tables:\n      public.customers",
                                   "    statements: [select]\n    accept_classified:\n      pii: {reason: identity checks}\n"
                                   "    tables:\n      public.customers"));
    const auto& cs = *cfg->find_policy("cs");
    CHECK(cs.accept_classified == std::set<std::string>{"pii"});
    CHECK(cs.classified_reasons.at("pii") == "identity checks");
    CHECK(cs.key_lines.at("accept_classified") == 13);
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    const auto errors = test::load_errors(
        replaced(base_yaml, "    statements: [select]\n    tables:\n      public.customers",
                 "    statements: [select]\n    accept_classified: {secret: {reason: x}, pii: {why: y}}\n"
                 "    tables:\n      public.customers"),
        env);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].find("no classification label \"secret\"") != std::string::npos);
    CHECK(errors[1].find("accept_classified.pii.why: unknown key") != std::string::npos);
}
