#pragma once
// The sink thread's half: turns batches of records into one SQLite
// transaction each, extending the hash chain over statements.

#include "sqlite.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/audit/records.hpp>

#include <memory>
#include <string>
#include <vector>

namespace pgsieve::audit {

// A record with what the sink computes for it once, however often its
// batch is retried.
struct pending {
    explicit pending(record rec) : r(std::move(rec)) {}
    record r;
    bool enriched = false;
    std::string fingerprint;
    std::string tags;
};

class writer {
public:
    [[nodiscard]] static expected<std::unique_ptr<writer>, std::string> open(const std::string& path);

    std::uint64_t max_session_id() const { return max_session_id_; }
    // The chain's head: the newest statement written (0 and genesis when none).
    std::int64_t last_id() const { return last_id_; }
    const std::string& last_hash() const { return last_hash_; }
    // All of the batch in one transaction, or (on error) none of it.
    [[nodiscard]] expected<void, std::string> write(std::vector<pending>& batch, bool normalize_sql);
    // Retention: deletes up to `limit` of the oldest statements written
    // before `cutoff` that every destination in `shipped_to` acknowledged
    // (never the newest row), moving the chain's anchor past them; events
    // and ended sessions no statement refers to likewise. How many rows went.
    [[nodiscard]] expected<std::int64_t, std::string> retain(sys_time cutoff, const std::vector<std::string>& shipped_to,
                                                             std::int64_t limit);

private:
    // The highest id of `source` every destination acknowledged (0: none).
    expected<std::int64_t, std::string> shipped_everywhere(export_source source,
                                                           const std::vector<std::string>& shipped_to);
    writer(sqlite::database db) : db_(std::move(db)) {}
    expected<void, std::string> prepare_statements();
    expected<void, std::string> insert(pending& p, bool normalize_sql);

    sqlite::database db_;
    std::vector<sqlite::statement> prepared_;  // indexed by record alternative, plus session end
    std::int64_t last_id_ = 0;
    std::string last_hash_;
    std::uint64_t max_session_id_ = 0;
};

}  // namespace pgsieve::audit
