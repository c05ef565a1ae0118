// The whole policy corpus, decided in-process against the catalog snapshot
// recorded from the fixture database: feedback in seconds for any change to
// the parser, resolution or decisions. (tests/integration/test_policy_corpus.py
// checks the snapshot against the live catalog and `pgsieve check` itself.)

#include "corpus_support.hpp"

#include <pgsieve/policy/decide.hpp>

#include <catch2/catch.hpp>

#include <filesystem>

using namespace pgsieve;

namespace {

std::vector<std::string> case_files() {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(PGSIEVE_CORPUS)) {
        if (entry.path().extension() == ".cases") out.push_back(entry.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("policy corpus: every case decided in-process against the recorded catalog", "[policy][corpus]") {
    const auto cases = test::corpus_cases(case_files());
    REQUIRE(cases.size() > 400);
    std::size_t allowed = 0, refused = 0;
    std::vector<std::string> failures;
    for (const auto& c : cases) {
        const auto d = test::decide_case(c);
        const std::string verdict = !d.allowed ? "refuse" : d.would_block ? "would_block" : "allow";
        const std::string rule = verdict == "allow" ? "-" : std::string(policy::to_string(d.rule));
        (verdict == "allow" ? allowed : refused) += 1;
        if (verdict != c.verdict || rule != c.rule)
            failures.push_back(c.where + ": expected " + c.verdict + " " + c.rule + ", got " + verdict + " " + rule +
                               " (" + d.message + ") | " + c.sql);
        else if (verdict != "allow" && !d.message.starts_with("pgsieve: "))
            failures.push_back(c.where + ": the message does not start with \"pgsieve: \": " + d.message);
    }
    INFO(cases.size() << " cases: " << allowed << " allowed, " << refused << " refused");
    std::string report;
    for (const auto& f : failures) report += f + "\n";
    INFO(report);
    CHECK(failures.empty());
}

namespace {

policy::decision decide_with_path(const std::string& client, const std::string& sql, std::vector<std::string> path,
                                  std::string role) {
    const auto cfg = test::corpus_config();
    const policy::context ctx{*cfg, *cfg->find_policy(cfg->find_client(client)->policy), *test::corpus_catalog(),
                              std::move(path), std::move(role), nullptr};
    return policy::decide(sql, ctx);
}

}  // namespace

TEST_CASE("attack: \"$user\" in the search path names the upstream role's schema, as in PostgreSQL",
          "[policy][security]") {
    // With search_path "$user", public and an upstream role named hr,
    // PostgreSQL reads hr.employees for an unqualified "employees".
    const auto as_hr = decide_with_path("cs_bot", "SELECT * FROM employees", {"$user", "public"}, "hr");
    CHECK_FALSE(as_hr.allowed);
    CHECK(as_hr.rule == policy::rule::relation);  // resolved to hr.employees, which the policy hides
    CHECK(as_hr.message.find("\"employees\" does not exist or is not allowed") != std::string::npos);
    // Another role: no such schema, so nothing named employees is visible.
    const auto as_other = decide_with_path("cs_bot", "SELECT * FROM employees", {"$user", "public"}, "ai_readonly");
    CHECK(as_other.rule == policy::rule::unresolved);
    // A literal "$user" schema is never looked up.
    CHECK(decide_with_path("cs_bot", "SELECT id FROM customers", {"$user", "public"}, "hr").allowed);
}

TEST_CASE("attack: a search path that places pg_catalog after a user schema is honoured", "[policy][security]") {
    // pg_catalog first (implicitly): pg_class is the catalog's.
    const auto implicit = decide_with_path("cs_bot", "SELECT relname FROM pg_class", {"public"}, "u");
    CHECK(implicit.allowed);
    CHECK(implicit.tables == std::vector<std::string>{"pg_catalog.pg_class"});
    // hr before pg_catalog: an unqualified name is looked up in hr first.
    const auto late = decide_with_path("pii_bot", "SELECT name FROM employees", {"hr", "pg_catalog"}, "u");
    CHECK(late.allowed);
    CHECK(late.tables == std::vector<std::string>{"hr.employees"});
}

TEST_CASE("attack: a statement over listen.max_statement_bytes is refused before it is parsed", "[policy][security]") {
    std::string sql = "SELECT 1";
    while (sql.size() <= test::corpus_config()->listen.max_statement_bytes) sql += " + 1";
    const auto d = decide_with_path("cs_bot", sql, {"public"}, "u");
    CHECK_FALSE(d.allowed);
    CHECK(d.rule == policy::rule::limit);
    CHECK(d.message.find("listen.max_statement_bytes") != std::string::npos);
}

TEST_CASE("attack: a deeply nested sum is refused with a limit, never a crash", "[policy][security]") {
    std::string sql = "SELECT 1";
    for (int i = 0; i < 70000; ++i) sql += "+1";
    const auto d = decide_with_path("cs_bot", sql, {"public"}, "u");
    CHECK_FALSE(d.allowed);
    CHECK(d.rule == policy::rule::limit);
}

TEST_CASE("policy: a blocked statement records the columns it asked for", "[policy][audit]") {
    const auto d = decide_with_path("cs_bot", "SELECT id, ssn, email FROM customers", {"public"}, "u");
    CHECK_FALSE(d.allowed);
    CHECK(d.columns == std::vector<std::string>{"public.customers.id", "public.customers.ssn", "public.customers.email"});
}

TEST_CASE("policy: statements touching tables with hidden columns ask for upstream error details to be withheld",
          "[policy][security]") {
    CHECK(decide_with_path("cs_bot", "SELECT id FROM customers", {"public"}, "u").redact_errors);
    CHECK_FALSE(decide_with_path("cs_bot", "SELECT * FROM usage_daily", {"public"}, "u").redact_errors);
    CHECK(decide_with_path("ops_bot", "INSERT INTO tickets (customer_id, subject) VALUES (1, 'x')", {"public"}, "u")
              .redact_errors == false);
}

TEST_CASE("attack: a hidden relation, column, function or type is refused in the words of a missing one",
          "[policy][security]") {
    // Refusals once said "table X is not allowed" for a hidden table and
    // "does not exist or is not visible" for a missing one: an existence oracle.
    const auto same = [](const std::string& sql_hidden, const std::string& hidden, const std::string& sql_missing,
                         const std::string& missing) {
        // search_path "$user", public for role hr: unqualified employees is hr.employees.
        const auto h = decide_with_path("cs_bot", sql_hidden, {"$user", "public"}, "hr");
        const auto m = decide_with_path("cs_bot", sql_missing, {"$user", "public"}, "hr");
        INFO(sql_hidden << " -> " << h.message << " / " << h.detail << " / " << h.hint);
        INFO(sql_missing << " -> " << m.message << " / " << m.detail << " / " << m.hint);
        REQUIRE_FALSE(h.allowed);
        REQUIRE_FALSE(m.allowed);
        const auto neutral = [](std::string text, const std::string& name) {
            for (auto at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) text.replace(at, name.size(), "X");
            return text;
        };
        CHECK(neutral(h.message, hidden) == neutral(m.message, missing));
        CHECK(h.detail == m.detail);
        CHECK(neutral(h.hint, hidden) == neutral(m.hint, missing));
        CHECK(h.position == m.position);
    };
    same("SELECT * FROM hr.employees", "hr.employees", "SELECT * FROM hr.nothere1", "hr.nothere1");
    same("SELECT * FROM employees", "employees", "SELECT * FROM nothere1", "nothere1");
    same("SELECT * FROM canary_schema.canary_table", "canary_schema.canary_table", "SELECT * FROM canary_schema.nothere",
         "canary_schema.nothere");
    same("SELECT ssn FROM customers", "ssn", "SELECT ssx FROM customers", "ssx");
    same("SELECT c.ssn FROM customers c", "ssn", "SELECT c.ssx FROM customers c", "c.ssx");
    same("SELECT public.ssn_of(1)", "public.ssn_of", "SELECT public.nothere(1)", "public.nothere");
    same("SELECT hr.canary_check(1)", "hr.canary_check", "SELECT hr.nothere(1)", "hr.nothere");
    same("SELECT 1::hr.checked_int", "hr.checked_int", "SELECT 1::hr.nothere", "hr.nothere");
}
