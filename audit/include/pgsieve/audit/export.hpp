#pragma once
// Shipping the audit off the machine, sans-io: what to ship next from the
// SQLite file (by id, after a cursor persisted in the same file), the cursor's
// advance once a destination acknowledged a batch, and the batch encoded as
// an OTLP logs request (protobuf, opentelemetry-proto's logs.proto).
//
// At least once: the cursor moves only after success, so a batch may be sent
// again after a failure or a restart; each record carries an idempotency key
// (instance id, table, row id, and the row's chain hash for statements) by
// which a receiver drops repeats.

#include <pgsieve/common/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsieve::audit {

enum class export_source { statements, events };
std::string_view to_string(export_source);

// One audit row as a log record.
struct shipped_record {
    using value = std::variant<std::string, std::int64_t>;
    export_source source = export_source::statements;
    std::int64_t id = 0;
    std::string hash;            // statements: the row's chain hash
    std::uint64_t time_unix_nano = 0;
    std::string body;            // the SQL text, or the event's kind
    std::vector<std::pair<std::string, value>> attributes;
    std::string trace_id, span_id;  // raw bytes (16, 8) from a traceparent tag; empty otherwise
    bool failed = false;         // refused or failed: severity WARN, else INFO
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

private:
    struct state;
    explicit export_reader(std::unique_ptr<state> s);
    std::unique_ptr<state> state_;
};

// An ExportLogsServiceRequest with `records` under one resource (service
// pgsieve, service.instance.id `instance_id`).
std::string encode_otlp_logs(const std::vector<shipped_record>& records, std::string_view instance_id);

// The receiver-side key of a record: instance/table/id[/hash].
std::string idempotency_key(std::string_view instance_id, const shipped_record& r);

}  // namespace pgsieve::audit
