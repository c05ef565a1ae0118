#pragma once
// `pgsieve policy propose`: the least policy that allows what a client ran.
// Each recorded statement is decided under a policy wide enough for it (its
// own tables, every column and verb, its functions, discovery) to learn what
// it reads and writes; the draft grants the union, and is checked against
// the same statements before it is printed. Classified columns are never
// granted: they are listed for a deliberate decision. Sans-io.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>
#include <pgsieve/policy/replay.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pgsieve::policy {

// How often a grant was used, and the first statement that used it.
struct usage {
    std::uint64_t count = 0;
    std::string first;
};

struct proposal {
    std::string client;
    config::policy policy;  // the draft
    // Evidence for each grant, keyed as the YAML names it.
    std::map<config::statement_kind, usage> statements;
    std::map<config::qualified_name, usage> tables;
    std::map<config::column_name, usage> columns;
    std::map<config::qualified_name, usage> functions;
    usage catalog;
    // Classified columns the client read: not granted (label → column → use).
    std::map<config::column_name, std::pair<std::string, usage>> classified;
    // Tables written without a WHERE that bounds their rows (unbounded_writes).
    std::map<config::qualified_name, usage> unbounded;
    // Columns granted only because an allowlist cannot be empty.
    std::set<config::column_name> filler_columns;
    // Statements the audit recorded as refused (blocked): left out.
    std::map<std::string, usage> refused;  // rule → statements
    // Statements no policy can allow (DDL, a refused built-in, …): left out.
    std::map<std::string, usage> not_grantable;  // the refusal message → statements
    // Recorded statements the draft still refuses (an empty list is the
    // promise; classified columns are the expected cause).
    std::map<std::string, usage> still_refused;
    std::uint64_t used = 0;                // statements the draft is drawn from
    std::uint64_t skipped_normalized = 0;  // recorded without their constants
    std::uint64_t skipped_session = 0;     // EXECUTE / FETCH
    std::string first_seen, last_seen;

    // The policy as YAML under `policies:`, every grant commented with its
    // count and first example.
    std::string yaml(const std::string& source) const;
};

class proposer {
public:
    // `policy_name`: the name the draft is given (the client's policy's, to replace it).
    proposer(const config::config& cfg, const catalog& cat, std::string client, std::string policy_name);
    void add(const recorded_statement& s);
    [[nodiscard]] proposal finish();

private:
    void learn(const recorded_statement& s);

    const config::config& cfg_;
    const catalog& catalog_;
    const config::policy* current_ = nullptr;
    proposal result_;
    std::map<config::qualified_name, std::set<config::table_verb>> verbs_;
    std::set<std::string> seen_;              // distinct texts learned from
    std::vector<recorded_statement> checks_;  // one per distinct text, decided under the draft
};

}  // namespace pgsieve::policy
