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
