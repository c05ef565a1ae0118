// The budget ledger with a hand-set clock: fixed windows aligned to the
// epoch, what a refusal says, what is left for a result, /metrics. The
// session's use of it is in session_enforce_test.cpp; through drivers in
// tests/integration/test_tool_boundaries.py.

#include <pgsieve/session/budgets.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;
using namespace std::chrono_literals;

namespace {
sys_time at(int hour, int minute, int second = 0) {
    // 2026-12-07T00:00:00Z
    return sys_time(std::chrono::seconds(1796601600)) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
           std::chrono::seconds(second);
}
}  // namespace

TEST_CASE("budgets: a used-up budget refuses until its window resets, on the hour", "[budgets]") {
    session::budget_ledger ledger;
    sys_time now = at(14, 3);
    ledger.clock = [&] { return now; };
    const std::vector<config::budget> budgets{{config::budget_kind::statements, 2, std::chrono::hours(1)}};
    CHECK_FALSE(ledger.check("cs_bot", budgets));
    ledger.charge("cs_bot", budgets, config::budget_kind::statements, 2);
    const auto over = ledger.check("cs_bot", budgets);
    REQUIRE(over);
    CHECK(over->message == "pgsieve: client \"cs_bot\" used its 2 statements per hour; the budget resets at "
                           "2026-12-07T15:00:00Z");
    // Another client has its own account.
    CHECK_FALSE(ledger.check("ops_bot", budgets));
    now = at(14, 59, 59);
    CHECK(ledger.check("cs_bot", budgets));
    now = at(15, 0);
    CHECK_FALSE(ledger.check("cs_bot", budgets));
    std::string metrics;
    ledger.render(metrics);
    CHECK(metrics.find("pgsieve_budget_used{client=\"cs_bot\",budget=\"statements\"} 0") != std::string::npos);
    CHECK(metrics.find("pgsieve_budget_refusals_total{client=\"cs_bot\",budget=\"statements\"} 2") != std::string::npos);
    CHECK(metrics.find("pgsieve_budget_limit{client=\"cs_bot\",budget=\"statements\"} 2") != std::string::npos);
}

TEST_CASE("budgets: rows and bytes left for a result; statement time in its words", "[budgets]") {
    session::budget_ledger ledger;
    sys_time now = at(10, 0);
    ledger.clock = [&] { return now; };
    const std::vector<config::budget> budgets{
        {config::budget_kind::rows, 100, std::chrono::hours(24)},
        {config::budget_kind::bytes, 5000, std::chrono::hours(24)},
        {config::budget_kind::statement_time, 600'000'000, std::chrono::hours(1)},
    };
    auto left = ledger.left("a", budgets);
    CHECK(left.rows == 100);
    CHECK(left.bytes == 5000);
    ledger.charge("a", budgets, config::budget_kind::rows, 60);
    ledger.charge("a", budgets, config::budget_kind::bytes, 6000);
    left = ledger.left("a", budgets);
    CHECK(left.rows == 40);
    CHECK(left.bytes == 0);
    const auto over = ledger.check("a", budgets);
    REQUIRE(over);
    CHECK(over->budget.kind == config::budget_kind::bytes);
    CHECK(over->message == "pgsieve: client \"a\" used its 5000 bytes per day; the budget resets at 2026-12-08T00:00:00Z");
    ledger.charge_result("b", budgets, 0, 0, 599'999'999);
    CHECK_FALSE(ledger.check("b", budgets));
    ledger.charge_result("b", budgets, 0, 0, 1);
    CHECK(ledger.check("b", budgets)->message ==
          "pgsieve: client \"b\" used its 10m of statement time per hour; the budget resets at 2026-12-07T11:00:00Z");
    // No budget of a kind: nothing is counted or cut.
    const std::vector<config::budget> none;
    CHECK(ledger.left("a", none).rows == UINT64_MAX);
    ledger.charge("a", none, config::budget_kind::rows, 10);
    CHECK_FALSE(ledger.check("a", none));
}
