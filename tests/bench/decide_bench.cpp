// Benchmark, not a test: the cost of a decision (parse + analyse + decide)
// for pgbench's select, a ~500-byte catalog query, and a cache hit.
// DESIGN.md §6 targets: ≤ 5 µs, ≤ 25 µs, ≤ 0.5 µs (medians).
//
//   build/tests/decide_bench [ROUNDS]
//
// Each round times a batch of calls; the median of the rounds is reported.

#include <pgsieve/config/load.hpp>
#include <pgsieve/parser/parse.hpp>
#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/decision_cache.hpp>
#include <pgsieve/policy/statement_shape.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

using namespace pgsieve;

namespace {

template <class F>
double median_microseconds(int rounds, int batch, F&& f) {
    std::vector<double> samples;
    for (int r = 0; r < rounds; ++r) {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < batch; ++i) f();
        const auto elapsed = std::chrono::steady_clock::now() - start;
        samples.push_back(std::chrono::duration<double, std::micro>(elapsed).count() / batch);
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 31;
    config::environment env{[](const std::string&) -> std::optional<std::string> { return "x"; },
                            [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
    const auto cfg = config::load_text(R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
clients: [{name: bench, password_env: P, policy: p}]
policies:
  p:
    statements: [select]
    catalog: introspection
    tables:
      public.pgbench_accounts: {}
      public.pgbench_branches: {}
)",
                                       "/bench.yaml", env);
    if (!cfg) return 2;
    const auto relation = [](std::string schema, std::string name, std::vector<std::string> columns) {
        policy::relation_info r;
        r.schema = std::move(schema);
        r.name = std::move(name);
        r.columns = std::move(columns);
        return r;
    };
    const auto function = [](std::string name, int arguments) {
        policy::function_info f;
        f.schema = "pg_catalog";
        f.name = std::move(name);
        f.volatility = 's';
        f.arguments = arguments;
        return f;
    };
    const policy::catalog cat(
        {relation("public", "pgbench_accounts", {"aid", "bid", "abalance", "filler"}),
         relation("public", "pgbench_branches", {"bid", "bbalance", "filler"}),
         relation("pg_catalog", "pg_class", {"oid", "relname", "relnamespace", "relkind", "relowner"}),
         relation("pg_catalog", "pg_namespace", {"oid", "nspname"}),
         relation("pg_catalog", "pg_attribute",
                  {"attrelid", "attname", "atttypid", "attnum", "attnotnull", "atttypmod", "attisdropped"}),
         relation("pg_catalog", "pg_description", {"objoid", "classoid", "objsubid", "description"})},
        {function("format_type", 2), function("col_description", 2), function("pg_table_is_visible", 1)}, {});
    const policy::context ctx{**cfg, *(*cfg)->find_policy("p"), cat, {"public"}, "u", nullptr};

    const std::string pgbench = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";
    const std::string catalog_query =
        "SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name, "
        "pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type, "
        "pg_catalog.col_description(c.oid, a.attnum) AS column_comment "
        "FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'v', 'm', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY n.nspname, c.relname, a.attnum";

    for (const auto* sql : {&pgbench, &catalog_query}) {
        const auto d = policy::decide(*sql, ctx);
        if (!d.allowed) {
            fmt::print(stderr, "benchmark statement refused: {} ({})\n", d.message, d.detail);
            return 1;
        }
    }
    policy::decision_cache cache;
    const policy::decision_cache::scope scope{1, "p", "public"};
    cache.insert(scope, pgbench, std::make_shared<policy::decision>(policy::decide(pgbench, ctx)));

    // The same select with other constants: a hit on its shape (what the
    // session does on an exact miss: shape the text, find the shape's key).
    const auto pgbench_decision = std::make_shared<policy::decision>(policy::decide(pgbench, ctx));
    if (!pgbench_decision->shape_cacheable) {
        fmt::print(stderr, "pgbench's select is not shape-cacheable\n");
        return 1;
    }
    cache.insert(scope, std::string(1, '\0') + *policy::statement_shape(pgbench), pgbench_decision);
    std::vector<std::string> varied;
    for (int i = 0; i < 1000; ++i) varied.push_back(fmt::format("SELECT abalance FROM pgbench_accounts WHERE aid = {};", 1 + i * 997));
    std::size_t next = 0;

    volatile bool sink = false;
    const double parse_pgbench = median_microseconds(rounds, 2000, [&] { sink = parser::parse(pgbench).has_value(); });
    const double decide_pgbench = median_microseconds(rounds, 2000, [&] { sink = policy::decide(pgbench, ctx).allowed; });
    const double decide_catalog = median_microseconds(rounds, 500, [&] { sink = policy::decide(catalog_query, ctx).allowed; });
    const double cache_hit = median_microseconds(rounds, 20000, [&] { sink = cache.find(scope, pgbench) != nullptr; });
    const double shape_hit = median_microseconds(rounds, 20000, [&] {
        const auto& sql = varied[next++ % varied.size()];
        sink = cache.find(scope, sql) != nullptr;  // the exact miss first, as the session does
        std::string key(1, '\0');
        key += *policy::statement_shape(sql);
        sink = cache.find(scope, key) != nullptr;
    });
    (void)sink;

    fmt::print("decision cost, median of {} rounds (DESIGN.md §6 target in brackets):\n", rounds);
    fmt::print("  pgbench select ({} bytes): parse {:.2f} us, parse+analyse+decide {:.2f} us [<= 5]\n", pgbench.size(),
               parse_pgbench, decide_pgbench);
    fmt::print("  catalog query ({} bytes): parse+analyse+decide {:.2f} us [<= 25]\n", catalog_query.size(),
               decide_catalog);
    fmt::print("    (scoped to the policy's grant: the statement sent upstream is {} bytes)\n",
               policy::decide(catalog_query, ctx).scoped_sql.size());
    fmt::print("  decision cache hit: {:.3f} us [<= 0.5]\n", cache_hit);
    fmt::print("  other constants, a hit on the shape (exact miss + shape + hit): {:.3f} us [<= 0.2 for a hit]\n",
               shape_hit);
    return 0;
}
