#pragma once
// Shipping the audit off the machine, sans-io: what to ship next from the
// SQLite file (by id, after a cursor persisted in the same file), the cursor's
// advance once a destination acknowledged a batch, and the batch encoded as
// an OTLP logs request (protobuf, opentelemetry-proto's logs.proto).
//
// At least once: the cursor moves only after success, so a batch may be sent
// again after a failure or a restart; each record carries an idempotency key
// (instance id, table, row id, and the row's chain hash — for rows outside
// the chain a digest of the row) by which a receiver drops repeats.

#include <pgsieve/common/expected.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsieve::audit {

// What is shipped, each tailed by its own cursor. A session is shipped when
// it starts (by id) and again when it ends (session_ends: by the order
// sessions ended in, as its row changes then).
enum class export_source { policy_versions, sessions, statements, events, session_ends };
// In the order a pass ships them: a statement's session and policy version
// leave before it.
inline constexpr export_source export_sources[] = {export_source::policy_versions, export_source::sessions,
                                                   export_source::statements, export_source::events,
                                                   export_source::session_ends};
std::string_view to_string(export_source);

// One audit row as a log record.
struct shipped_record {
    using value = std::variant<std::string, std::int64_t>;
    export_source source = export_source::statements;
    // Its place in its stream, where the cursor moves to: the row's id (for
    // session_ends its end_seq, for policy_versions its rowid).
    std::int64_t id = 0;
    std::string hash;            // statements: the row's chain hash
    std::uint64_t time_unix_nano = 0;
    std::string body;            // the SQL text, the event's kind, session_started|session_ended, policy_loaded
    std::vector<std::pair<std::string, value>> attributes;
    std::string trace_id, span_id;  // raw bytes (16, 8) from a traceparent tag; empty otherwise
    bool failed = false;         // refused or failed: severity WARN, else INFO
    // The row itself, column by column as the audit file names them (NULLs
    // left out), for a store that keeps rows rather than log records.
    std::vector<std::pair<std::string, value>> row;
};

class export_reader {
public:
    // Opens its own connections to the audit file (the sink keeps writing).
    // `destination` names the cursor (one per destination).
    [[nodiscard]] static expected<std::unique_ptr<export_reader>, std::string> open(const std::string& path,
                                                                                    std::string destination);
    ~export_reader();

    // Up to `limit` rows after the cursor, in id order.
    [[nodiscard]] expected<std::vector<shipped_record>, std::string> next(export_source source, std::size_t limit);
    // Records that rows up to `last_id` were acknowledged.
    [[nodiscard]] expected<void, std::string> advance(export_source source, std::int64_t last_id);
    std::int64_t cursor(export_source source) const;
    // This destination will never take record `id` (its size or content):
    // an audit_export_quarantined event names it and the destination's
    // error — shipped like any other row — and the cursor passes it. The
    // record stays in the file and goes to the other destinations.
    [[nodiscard]] expected<void, std::string> quarantine(export_source source, std::int64_t id,
                                                         std::string_view error);
    // An event of the exporter's own (audit_export_stalled) in the file,
    // shipped like any other row. `detail` is JSON of valid UTF-8.
    [[nodiscard]] expected<void, std::string> record_event(std::string_view kind, const std::string& detail);
    // Whether this file continues the log a destination already holds under
    // this instance id, given the destination's newest statement (id, chain
    // hash) of it: the file must hold that row with that hash, or have let it
    // go by retention. A replaced file (ids start again at 1) or one whose
    // newest rows were deleted does not, and shipping it would mix two
    // histories under one name; the error says which and what to do.
    [[nodiscard]] expected<void, std::string> continues(
        const std::optional<std::pair<std::int64_t, std::string>>& newest_shipped);

private:
    struct state;
    explicit export_reader(std::unique_ptr<state> s);
    expected<std::vector<shipped_record>, std::string> policy_versions(std::size_t limit);
    expected<std::vector<shipped_record>, std::string> sessions(export_source source, std::size_t limit);
    expected<std::vector<shipped_record>, std::string> events(std::size_t limit);
    expected<std::vector<shipped_record>, std::string> statements(std::size_t limit);
    std::unique_ptr<state> state_;
};

// An ExportLogsServiceRequest with `records` under one resource (service
// pgsieve, service.instance.id `instance_id`). A text longer than
// max_otlp_text_bytes (a refused 1 MB statement, a policy's source) is cut
// there, marked pgsieve.truncated: log pipelines limit record sizes, and the
// full text stays in the file and the central store.
inline constexpr std::size_t max_otlp_text_bytes = 64 * 1024;
std::string encode_otlp_logs(std::span<const shipped_record> records, std::string_view instance_id);
// About how many bytes a record adds to a request (its texts), to size batches.
std::size_t approximate_bytes(const shipped_record& r);

// The central PostgreSQL audit store. Its owner makes it (schema
// pgsieve_audit: the tables, statements and events partitioned by day, and
// the functions replicas call) and registers each replica's role with the
// one instance id it writes as: a replica may only append, as itself.
struct store_writer {
    std::string role;
    std::string instance;
};
// The owner's script: idempotent, one transaction; a writer that is a
// superuser or the owner itself, or a role or instance already bound to
// another, stops it. Readers may SELECT every table (the review commands);
// approvers may read the approval tickets and decide them (as themselves).
std::string central_store_init_sql(const std::vector<store_writer>& writers, const std::vector<std::string>& readers,
                                   const std::vector<std::string>& approvers = {});
// The statement that appends one stream's `records` as the calling role's
// instance: idempotent on (instance, id, ts) — sessions on (instance, id),
// policy versions on (instance, version) — so a batch sent twice is stored
// once; a session's end is recorded once.
std::string central_store_sql(std::span<const shipped_record> records);

// The calling role's instance and its newest statement in the store (one row:
// instance, id, hash — id and hash NULL before the first; no row when the
// role is not a writer), for export_reader::continues.
inline constexpr std::string_view central_store_newest_statement =
    "SELECT instance, id, hash FROM pgsieve_audit.newest_statement()";
// Reading the store back, for review: the instances it holds, then one
// instance's statements, events, sessions and policy versions (text columns,
// in the order import_central_rows takes them).
inline constexpr std::string_view central_store_instances =
    "SELECT DISTINCT instance FROM pgsieve_audit.statements ORDER BY 1";
// Read a page at a time (the review's memory stays bounded whatever the
// store holds): central_store_open's statements open one read-only snapshot
// with a cursor per table; each central_store_page reads the next `limit`
// rows of each (policy versions whole, with the first page) until every
// table returns fewer; then COMMIT.
std::vector<std::string> central_store_open(std::string_view instance_id);
std::vector<std::string> central_store_page(std::string_view instance_id, bool first, std::size_t limit);
// Adds those rows (one page of each table) to `path`, an audit log made on
// the first call, as the replica's own file held them, so every review
// command — verify included — reads it.
using text_row = std::vector<std::optional<std::string>>;
[[nodiscard]] expected<void, std::string> import_central_rows(const std::string& path,
                                                              const std::vector<std::vector<text_row>>& tables);

// A configuration's text as it may leave the machine: SCRAM verifiers (which
// allow an offline guess at the password) are cut to their scheme.
std::string redact_verifiers(std::string_view configuration);

// The receiver-side key of a record: instance/table/id/hash — the chain hash
// for statements, 16 hex digits of a digest of the row for the others.
std::string idempotency_key(std::string_view instance_id, const shipped_record& r);

}  // namespace pgsieve::audit
