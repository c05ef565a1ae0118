// OTLP logs, protobuf-encoded by hand: the few messages of
// opentelemetry-proto (collector/logs/v1, logs/v1, common/v1,
// resource/v1) that an export request needs, with their field numbers.
// A receiver decoding with the project's generated code checks it
// (tests/integration/test_audit_export.py).

#include <pgsieve/audit/export.hpp>

#include <cstring>

namespace pgsieve::audit {

namespace {

// Protobuf wire types.
constexpr unsigned varint_type = 0, fixed64_type = 1, length_type = 2;

class proto {
public:
    void varint(std::uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void tag(unsigned field, unsigned type) { varint((std::uint64_t(field) << 3) | type); }
    void uint(unsigned field, std::uint64_t v) {
        tag(field, varint_type);
        varint(v);
    }
    void fixed64(unsigned field, std::uint64_t v) {
        tag(field, fixed64_type);
        for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    void bytes(unsigned field, std::string_view v) {
        tag(field, length_type);
        varint(v.size());
        out_.append(v);
    }
    // A nested message, written in place after room for its length (a
    // varint of at most 5 bytes: messages are under 4 GiB), which is then
    // filled in and the room left over closed: no buffer per message.
    template <class F>
    void message(unsigned field, F&& fill) {
        tag(field, length_type);
        const auto at = out_.size();
        out_.append(max_length_bytes, '\0');
        fill(*this);
        std::uint64_t length = out_.size() - at - max_length_bytes;
        std::size_t n = 0;
        char prefix[max_length_bytes];
        while (length >= 0x80) {
            prefix[n++] = static_cast<char>((length & 0x7f) | 0x80);
            length >>= 7;
        }
        prefix[n++] = static_cast<char>(length);
        std::memcpy(out_.data() + at, prefix, n);
        if (n < max_length_bytes) out_.erase(at + n, max_length_bytes - n);
    }
    std::string take() { return std::move(out_); }
    void reserve(std::size_t n) { out_.reserve(n); }

private:
    static constexpr std::size_t max_length_bytes = 5;
    std::string out_;
};

// common.v1.AnyValue: string_value = 1, int_value = 3.
void any_value(proto& p, const shipped_record::value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) p.bytes(1, *s);
    else p.uint(3, static_cast<std::uint64_t>(std::get<std::int64_t>(v)));  // int64: two's complement varint
}

// common.v1.KeyValue: key = 1, value = 2.
void key_value(proto& p, unsigned field, std::string_view key, const shipped_record::value& v) {
    p.message(field, [&](proto& kv) {
        kv.bytes(1, key);
        kv.message(2, [&](proto& any) { any_value(any, v); });
    });
}

// `text` cut to max_otlp_text_bytes at a character boundary; sets `cut`.
std::string_view capped(std::string_view text, bool& cut) {
    if (text.size() <= max_otlp_text_bytes) return text;
    cut = true;
    std::size_t end = max_otlp_text_bytes;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    return text.substr(0, end);
}

// SeverityNumber: INFO = 9, WARN = 13.
constexpr std::uint64_t severity_info = 9, severity_warn = 13;

}  // namespace

std::string encode_otlp_logs(std::span<const shipped_record> records, std::string_view instance_id) {
    proto request;
    std::size_t estimate = 256;
    for (const auto& r : records) estimate += approximate_bytes(r) + 64;
    request.reserve(estimate);
    // ExportLogsServiceRequest.resource_logs = 1
    request.message(1, [&](proto& resource_logs) {
        // ResourceLogs.resource = 1 (Resource.attributes = 1)
        resource_logs.message(1, [&](proto& resource) {
            key_value(resource, 1, "service.name", std::string("pgsieve"));
            key_value(resource, 1, "service.instance.id", std::string(instance_id));
        });
        // ResourceLogs.scope_logs = 2
        resource_logs.message(2, [&](proto& scope_logs) {
            // ScopeLogs.scope = 1 (InstrumentationScope.name = 1)
            scope_logs.message(1, [](proto& scope) { scope.bytes(1, "pgsieve.audit"); });
            for (const auto& r : records) {
                // ScopeLogs.log_records = 2
                scope_logs.message(2, [&](proto& log) {
                    log.fixed64(1, r.time_unix_nano);                             // time_unix_nano
                    log.uint(2, r.failed ? severity_warn : severity_info);        // severity_number
                    log.bytes(3, r.failed ? "WARN" : "INFO");                     // severity_text
                    bool cut = false;
                    log.message(5, [&](proto& body) { body.bytes(1, capped(r.body, cut)); });  // body: string_value
                    for (const auto& [key, value] : r.attributes) {
                        if (const auto* text = std::get_if<std::string>(&value); text && text->size() > max_otlp_text_bytes)
                            key_value(log, 6, key, std::string(capped(*text, cut)));
                        else
                            key_value(log, 6, key, value);
                    }
                    if (cut) key_value(log, 6, "pgsieve.truncated", std::int64_t{1});
                    key_value(log, 6, "pgsieve.record.table", std::string(to_string(r.source)));
                    key_value(log, 6, "pgsieve.record.id", r.id);
                    if (!r.hash.empty()) key_value(log, 6, "pgsieve.record.hash", r.hash);
                    key_value(log, 6, "pgsieve.idempotency_key", idempotency_key(instance_id, r));
                    if (r.trace_id.size() == 16 && r.span_id.size() == 8) {
                        log.bytes(9, r.trace_id);  // trace_id
                        log.bytes(10, r.span_id);  // span_id
                    }
                    log.fixed64(11, r.time_unix_nano);  // observed_time_unix_nano
                });
            }
        });
    });
    return request.take();
}

std::size_t approximate_bytes(const shipped_record& r) {
    const auto text = [](const shipped_record::value& v) {
        const auto* s = std::get_if<std::string>(&v);
        return s ? std::min(s->size(), max_otlp_text_bytes) + 16 : 16;
    };
    std::size_t n = 128 + std::min(r.body.size(), max_otlp_text_bytes) + r.hash.size();
    for (const auto& [key, value] : r.attributes) n += key.size() + text(value);
    // The central store ships the row whole (its texts uncut).
    for (const auto& [key, value] : r.row) {
        const auto* s = std::get_if<std::string>(&value);
        n += key.size() + (s ? s->size() : 0) + 16;
    }
    return n;
}

}  // namespace pgsieve::audit
