#pragma once
// Analysing a statement off the I/O thread. Parsing and deciding a long
// statement is work a client controls; a session hands it out as a job the
// driver runs elsewhere (net/'s analysis pool, under a deadline), and
// resumes with the result. The job owns everything it reads, so it can
// outlive the session that asked for it (a deadline passed, the client left).

#include <pgsieve/parser/facts.hpp>
#include <pgsieve/policy/decide.hpp>
#include <pgsieve/session/policy_snapshot.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsieve::session {

struct analysis_job {
    std::string sql;
    std::shared_ptr<const policy_snapshot> snapshot;  // the generation the decision is made against
    std::string policy;
    std::vector<std::string> search_path;
    std::string upstream_role;
};

struct analysis_result {
    // The decision, or (for a statement that runs or fetches what the session
    // holds: EXECUTE, FETCH) the parsed statements, which the session decides
    // against its own names.
    std::shared_ptr<const policy::decision> decision;
    std::optional<std::vector<parser::statement_facts>> facts;
};

// Parses and decides a job (any thread; reads only what the job holds).
analysis_result analyse(const analysis_job& job);

// Statements up to this long are analysed on the session's own thread: the
// text check makes lexing linear, so their cost is bounded by their length
// (a few hundred microseconds at most); longer ones become jobs.
inline constexpr std::size_t inline_analysis_bytes = 4096;

}  // namespace pgsieve::session
