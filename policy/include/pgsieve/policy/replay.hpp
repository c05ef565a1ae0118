#pragma once
// `pgsieve policy test`: recorded statements decided again under a candidate
// configuration, and what changes — newly refused (what the change breaks),
// newly allowed (what it opens), refused by another rule — grouped by
// client, policy, tool and fingerprint. Sans-io: the caller reads the audit
// and the catalog.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace pgsieve::policy {

// One audited statement, as the audit log holds it.
struct recorded_statement {
    std::string ts;           // RFC 3339
    std::string client;
    std::string sql;          // as recorded: the exact text, or its normalized form
    std::string fingerprint;
    std::string verdict;      // allowed, blocked, would_block
    std::string rule;         // of a refusal, as policy::to_string(rule) spells it
    std::string tool;         // the sqlcommenter `tool` tag, if any
    bool normalized = false;  // recorded under audit.store_sql: normalized (constants replaced): not replayable
};

enum class verdict_change { newly_refused, newly_allowed, changed_rule };
std::string_view to_string(verdict_change c);

// Statements of one shape whose verdict changes the same way.
struct replay_group {
    verdict_change change = verdict_change::newly_refused;
    std::string client;
    std::string policy;       // the client's policy in the candidate ("" when the client is gone)
    std::string tool;
    std::string fingerprint;
    std::string rule_before;  // "" when it was allowed
    std::string rule_after;   // "" when it is allowed
    std::string message;      // the candidate's refusal, as the client would read it
    // The classified columns (schema.table.column) the statements read, by
    // the candidate's labels: newly allowed ones are what a review looks at first.
    std::vector<std::string> classified;
    std::uint64_t count = 0;
    std::string first_seen, last_seen;
    std::string example;      // the first statement of the group, as recorded
};

struct replay_result {
    std::uint64_t recorded = 0;            // statements read
    std::uint64_t replayed = 0;            // decided under both
    std::uint64_t distinct = 0;            // decisions made under the candidate (distinct texts per policy)
    std::uint64_t skipped_normalized = 0;  // recorded with constants replaced
    std::uint64_t skipped_session = 0;     // EXECUTE / FETCH: depend on the session's prepared statements
    std::uint64_t skipped_no_text = 0;     // no text recorded (refused before it was read)
    std::map<verdict_change, std::uint64_t> changed;  // statements per change
    std::uint64_t newly_allowed_classified = 0;       // newly allowed statements that read classified columns
    std::vector<replay_group> groups;      // by change, then client, policy, tool, fingerprint
    std::string first_seen, last_seen;
};

// Decides each recorded statement under `candidate`, and compares with the
// verdict it had: under `baseline` when given (both decided now, against
// the same catalog, so only the configuration differs), else the verdict
// the audit recorded. Refused means refused in enforce mode: a monitor
// mode's would_block counts as refused on both sides. Each distinct
// (text, policy) is decided once.
class replayer {
public:
    replayer(const config::config& candidate, const catalog& cat, const config::config* baseline = nullptr);
    void add(const recorded_statement& s);
    [[nodiscard]] replay_result finish();

private:
    struct outcome {
        bool refused = false;
        std::string rule;
        std::string message;
        bool session_dependent = false;
        std::vector<std::string> classified;
    };
    outcome decide_under(const config::config& cfg, const std::string& client, const std::string& sql) const;
    const outcome& decided(const config::config& cfg, std::map<std::pair<std::string, std::string>, outcome>& memo,
                           const recorded_statement& s);

    static constexpr std::size_t max_memo = 250'000;

    const config::config& candidate_;
    const catalog& catalog_;
    const config::config* baseline_;
    std::map<std::pair<std::string, std::string>, outcome> after_, before_;
    using group_key = std::tuple<verdict_change, std::string, std::string, std::string, std::string, std::string,
                                 std::string>;
    std::map<group_key, replay_group> groups_;
    replay_result result_;
};

}  // namespace pgsieve::policy
