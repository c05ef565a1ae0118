#pragma once
// The incident-review queries behind `pgsieve audit list|show|stats|export|
// verify` (DESIGN.md §5). They open the file read-only: reviewing never
// changes the log, and works while pgsieve is writing it (WAL).

#include <pgsieve/common/expected.hpp>
#include <pgsieve/common/time.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsieve::audit {

using cell = std::variant<std::monostate, std::int64_t, std::string>;
// A cell as text: the string, the number in decimal, "" for NULL.
std::string cell_text(const cell& c);

// A titled table of results; formats in review_format.hpp.
struct result_set {
    std::string title;
    std::vector<std::string> columns;
    std::vector<std::vector<cell>> rows;
};

struct statement_filter {
    bool refused_only = false;  // blocked and would_block
    std::string client;
    std::string policy;  // the policy that decided
    std::string table;  // schema.table, or a table name in any schema
    std::optional<std::string> since;  // an RFC 3339 time (compared as text)
    std::int64_t limit = 50;           // list only; 0: no limit
};

struct verify_result {
    std::uint64_t checked = 0;
    std::optional<std::int64_t> first_bad_id;  // the first row that does not match
    std::string why;
};

// "1h", "30m", "7d", "90s" before `now`, or an RFC 3339 time / date as is.
[[nodiscard]] expected<std::string, std::string> parse_since(std::string_view text, sys_time now);

class database_reader;
using row_callback = std::function<void(const std::vector<std::string>& columns, const std::vector<cell>& row)>;

// One audit log under review, and the name its rows are shown under when
// several are reviewed together (a file's path, a replica's instance id).
struct review_source {
    std::string label;
    std::string path;
};

class review {
public:
    [[nodiscard]] static expected<review, std::string> open(const std::string& path);
    // Several logs as one (a fleet's replicas): list, show, stats and export
    // read them together, each row with its `log` column (the source's label) first; verify is
    // per log (each has its own chain), so open each alone for it.
    [[nodiscard]] static expected<review, std::string> open(const std::vector<review_source>& sources);
    review(review&&) noexcept;
    ~review();

    // Newest first (by time, when several logs are read).
    [[nodiscard]] expected<result_set, std::string> list(const statement_filter& f);
    // One statement, every column, with its session and the policy text in
    // force; with several logs, the statement of that id in each that has one.
    [[nodiscard]] expected<std::vector<result_set>, std::string> show(std::int64_t id);
    // What was refused, for whom, why, on which tables, over time.
    [[nodiscard]] expected<std::vector<result_set>, std::string> stats(const std::optional<std::string>& since);
    // Every statement column, oldest first, one row at a time.
    [[nodiscard]] expected<void, std::string> export_statements(const statement_filter& f,
                                                                const row_callback& row);
    // Every configuration version loaded (version, loaded_at, source; `log`
    // first when several are read), oldest first.
    [[nodiscard]] expected<result_set, std::string> policy_versions();
    // The hash chain of one log (an error when several were opened).
    [[nodiscard]] expected<verify_result, std::string> verify();
    // The signed checkpoints (checkpoint.hpp): each must be signed with `key`,
    // and the statement it names must still have the hash it signed (or have
    // left by retention, behind the anchor). `checked`: checkpoints verified.
    [[nodiscard]] expected<verify_result, std::string> verify_checkpoints(std::string_view key);

    // This log against what it shipped to the central store (`shipped`: the
    // store's rows of its instance, imported): every shipped statement must
    // be here with the same chain hash, and every shipped session, event
    // and policy version with the same columns (a policy's text as shipped,
    // verifiers redacted; a session's end once its end was shipped). Rows
    // not shipped yet are not compared. The first difference is named.
    struct shipped_mismatch {
        std::string table;
        std::string key;       // the row's id (a policy version's version)
        bool missing = false;  // not in the file at all
        std::string what;      // else how it differs: "<column> differs", or the statement's chain
    };
    struct shipped_comparison {
        std::map<std::string, std::uint64_t> checked;  // per table
        std::optional<shipped_mismatch> mismatch;
    };
    [[nodiscard]] expected<shipped_comparison, std::string> compare_shipped(review& shipped);

private:
    explicit review(std::unique_ptr<database_reader> db);
    std::unique_ptr<database_reader> db_;
};

}  // namespace pgsieve::audit
