// /metrics text without a server: counters by label, cumulative histogram
// buckets, label escaping.

#include <pgsieve/session/metrics.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;

TEST_CASE("metrics: statements by policy and verdict, histograms cumulative", "[metrics]") {
    session::metrics m;
    m.count_statement("cs", "allowed");
    m.count_statement("cs", "allowed");
    m.count_statement("odd\"name", "blocked");
    m.decision.observe(std::chrono::microseconds(3));
    m.decision.observe(std::chrono::microseconds(30));
    m.decision.observe(std::chrono::seconds(2));
    ++m.auth_failures;
    session::gauges g;
    g.connections = 4;
    g.audit_dropped = 7;
    const auto text = m.render(g);
    CHECK(text.find("pgsieve_connections 4\n") != std::string::npos);
    CHECK(text.find("pgsieve_statements_total{policy=\"cs\",verdict=\"allowed\"} 2\n") != std::string::npos);
    CHECK(text.find("pgsieve_statements_total{policy=\"odd\\\"name\",verdict=\"blocked\"} 1\n") != std::string::npos);
    CHECK(text.find("pgsieve_decision_seconds_bucket{le=\"5e-06\"} 1\n") != std::string::npos);
    CHECK(text.find("pgsieve_decision_seconds_bucket{le=\"5e-05\"} 2\n") != std::string::npos);
    CHECK(text.find("pgsieve_decision_seconds_bucket{le=\"1\"} 2\n") != std::string::npos);
    CHECK(text.find("pgsieve_decision_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
    CHECK(text.find("pgsieve_decision_seconds_count 3\n") != std::string::npos);
    CHECK(text.find("pgsieve_auth_failures_total 1\n") != std::string::npos);
    CHECK(text.find("pgsieve_audit_dropped_total 7\n") != std::string::npos);
    CHECK(text.find("# TYPE pgsieve_upstream_seconds histogram\n") != std::string::npos);
}
