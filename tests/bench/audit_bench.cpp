// Benchmark, not a test: statements per second the audit sink sustains into
// SQLite (DESIGN.md §6 target: ≥ 50,000/s with nothing dropped). Producer
// threads submit pgbench-like statement records as fast as they can; the
// clock stops when close() has committed the last one.
//
//   build/tests/audit_bench [STATEMENTS] [PRODUCERS] [ROUNDS]

#include <pgsieve/audit/sink.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

using namespace pgsieve;

namespace {

audit::statement record(int i) {
    audit::statement s;
    s.session_id = 1 + static_cast<std::uint64_t>(i % 8);
    s.ts = std::chrono::system_clock::now();
    s.client = "bench_bot";
    s.policy = "bench";
    s.policy_version = "0123456789abcdef";
    s.protocol = "simple";
    s.sql = fmt::format("SELECT abalance FROM pgbench_accounts WHERE aid = {};", 1 + i % 1000000);
    s.tables = {"public.pgbench_accounts"};
    s.columns = {"public.pgbench_accounts.abalance", "public.pgbench_accounts.aid"};
    s.application_name = "pgbench";
    s.command_tag = "SELECT 1";
    s.rows = 1;
    s.bytes = 17;
    s.duration_us = 80;
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const int statements = argc > 1 ? std::atoi(argv[1]) : 200000;
    const int producers = argc > 2 ? std::atoi(argv[2]) : 2;
    const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("pgsieve-audit-bench-{}", ::getpid());
    std::filesystem::create_directories(dir);
    std::vector<double> rates;
    for (int r = 0; r < rounds; ++r) {
        audit::sink_options o;
        o.path = (dir / fmt::format("audit-{}.db", r)).string();
        auto sink = audit::sink::open(o);
        if (!sink) {
            fmt::print(stderr, "audit_bench: {}\n", sink.error());
            return 1;
        }
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (int p = 0; p < producers; ++p) {
            threads.emplace_back([&, p] {
                for (int i = p; i < statements; i += producers) (*sink)->submit(record(i));
            });
        }
        for (auto& t : threads) t.join();
        (*sink)->close();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const auto stats = (*sink)->stats();
        rates.push_back(statements / seconds);
        fmt::print("round {}: {} statements in {:.2f} s = {:.0f}/s, written {}, dropped {}\n", r + 1, statements, seconds,
                   statements / seconds, stats.written, stats.dropped);
    }
    std::sort(rates.begin(), rates.end());
    fmt::print("median: {:.0f} statements/s into SQLite ({} producers, fingerprint + tags + hash chain per row)\n",
               rates[rates.size() / 2], producers);
    std::filesystem::remove_all(dir);
}
