#include <pgsieve/audit/export.hpp>
#include <pgsieve/audit/records.hpp>
#include <pgsieve/common/time.hpp>
#include <pgsieve/common/utf8.hpp>

#include "schema.hpp"
#include "sqlite.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <iterator>
#include <charconv>
#include <chrono>

namespace pgsieve::audit {

std::string_view to_string(export_source s) {
    switch (s) {
        case export_source::policy_versions: return "policy_versions";
        case export_source::sessions: return "sessions";
        case export_source::statements: return "statements";
        case export_source::events: return "events";
        case export_source::session_ends: return "session_ends";
    }
    return "statements";
}

std::string redact_verifiers(std::string_view configuration) {
    constexpr std::string_view scheme = "SCRAM-SHA-256$";
    std::string out;
    std::size_t from = 0;
    for (auto at = configuration.find(scheme); at != std::string_view::npos; at = configuration.find(scheme, from)) {
        out.append(configuration.substr(from, at + scheme.size() - from));
        out += "<redacted>";
        // A verifier is iterations:salt$StoredKey:ServerKey, in base64: it ends at the first other character.
        from = at + scheme.size();
        while (from < configuration.size() &&
               (std::isalnum(static_cast<unsigned char>(configuration[from])) ||
                std::string_view("+/=:$").find(configuration[from]) != std::string_view::npos))
            ++from;
    }
    out.append(configuration.substr(from));
    return out;
}

namespace {

// "2026-11-24T16:33:06.137190Z" (common/time.hpp's rfc3339) → Unix nanoseconds; 0 if unreadable.
std::uint64_t unix_nanos(std::string_view ts) {
    const auto number = [&](std::size_t at, std::size_t n) {
        int v = -1;
        if (at + n <= ts.size()) std::from_chars(ts.data() + at, ts.data() + at + n, v);
        return v;
    };
    const int y = number(0, 4), mo = number(5, 2), d = number(8, 2), h = number(11, 2), mi = number(14, 2),
              s = number(17, 2);
    if (y < 1970 || mo < 1 || d < 1 || h < 0 || mi < 0 || s < 0) return 0;
    const std::chrono::sys_days day{std::chrono::year(y) / std::chrono::month(static_cast<unsigned>(mo)) /
                                    std::chrono::day(static_cast<unsigned>(d))};
    std::uint64_t nanos = static_cast<std::uint64_t>(day.time_since_epoch().count()) * 86400ull;
    nanos = (nanos + static_cast<std::uint64_t>(h) * 3600 + static_cast<std::uint64_t>(mi) * 60 +
             static_cast<std::uint64_t>(s)) *
            1000000000ull;
    if (ts.size() > 20 && ts[19] == '.') {
        std::uint64_t fraction = 0, scale = 1000000000ull;
        for (std::size_t i = 20; i < ts.size() && ts[i] >= '0' && ts[i] <= '9' && scale > 1; ++i) {
            scale /= 10;
            fraction += static_cast<std::uint64_t>(ts[i] - '0') * scale;
        }
        nanos += fraction;
    }
    return nanos;
}

// W3C traceparent "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" → raw ids.
bool parse_traceparent(std::string_view t, std::string& trace_id, std::string& span_id) {
    if (t.size() < 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
    const auto bytes = [](std::string_view hex, std::string& out) {
        out.clear();
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
            unsigned v = 0;
            const auto [end, ec] = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
            if (ec != std::errc() || end != hex.data() + i + 2) return false;
            out.push_back(static_cast<char>(v));
        }
        return out.find_first_not_of('\0') != std::string::npos;  // all zero is invalid
    };
    return bytes(t.substr(3, 32), trace_id) && bytes(t.substr(36, 16), span_id);
}

// The leading word of a command tag ("SELECT 3" → "SELECT").
std::string operation_of(const std::string& tag) { return tag.substr(0, tag.find(' ')); }

}  // namespace

struct export_reader::state {
    sqlite::database db;
    std::string destination;
    std::array<std::int64_t, std::size(export_sources)> cursors{};
};

export_reader::export_reader(std::unique_ptr<state> s) : state_(std::move(s)) {}
export_reader::~export_reader() = default;

expected<std::unique_ptr<export_reader>, std::string> export_reader::open(const std::string& path,
                                                                         std::string destination) {
    // Not read-only: the cursor is written here (a tiny transaction the
    // sink's writer waits out within its busy timeout).
    auto db = sqlite::database::open(path, false);
    if (!db) return unexpected(fmt::format("audit export: {}: {}", path, db.error()));
    if (auto r = check_schema(*db); !r) return unexpected(fmt::format("audit export: {}: {}", path, r.error()));
    auto s = std::make_unique<state>(state{std::move(*db), std::move(destination), {}});
    auto q = s->db.prepare("SELECT source, last_id FROM export_cursors WHERE destination = ?");
    if (!q) return unexpected(q.error());
    q->bind(1, s->destination);
    while (q->step() == SQLITE_ROW) {
        for (const auto source : export_sources) {
            if (q->text(0) == to_string(source)) s->cursors[static_cast<std::size_t>(source)] = q->integer(1);
        }
    }
    return std::unique_ptr<export_reader>(new export_reader(std::move(s)));
}

std::int64_t export_reader::cursor(export_source source) const {
    return state_->cursors[static_cast<std::size_t>(source)];
}

expected<void, std::string> export_reader::advance(export_source source, std::int64_t last_id) {
    auto q = state_->db.prepare(
        "INSERT INTO export_cursors (destination, source, last_id) VALUES (?, ?, ?) "
        "ON CONFLICT (destination, source) DO UPDATE SET last_id = excluded.last_id");
    if (!q) return unexpected(q.error());
    q->bind(1, state_->destination);
    q->bind(2, to_string(source));
    q->bind(3, last_id);
    if (q->step() != SQLITE_DONE) return unexpected(state_->db.error());
    state_->cursors[static_cast<std::size_t>(source)] = last_id;
    return {};
}

expected<void, std::string> export_reader::record_event(std::string_view kind, const std::string& detail) {
    auto q = state_->db.prepare("INSERT INTO events (ts, session_id, kind, detail) VALUES (?, NULL, ?, ?)");
    if (!q) return unexpected(q.error());
    q->bind(1, rfc3339(std::chrono::system_clock::now()));
    q->bind(2, std::string(kind));
    q->bind(3, detail);
    if (q->step() != SQLITE_DONE) return unexpected(state_->db.error());
    return {};
}

expected<void, std::string> export_reader::quarantine(export_source source, std::int64_t id,
                                                      std::string_view error) {
    // The event and the cursor move together: the record is neither lost
    // from view nor offered again.
    if (auto r = state_->db.exec("BEGIN IMMEDIATE"); !r) return r;
    const auto record_id = std::to_string(id);
    // The destination's words are text from outside: valid UTF-8 before the file.
    const auto reason = valid_utf8(error);
    auto done = record_event("audit_export_quarantined",
                             detail_json({{"destination", state_->destination}, {"table", to_string(source)},
                                          {"id", record_id}, {"error", reason}}));
    if (done) done = advance(source, id);
    if (!done) {
        (void)state_->db.exec("ROLLBACK");
        return done;
    }
    return state_->db.exec("COMMIT");
}

expected<void, std::string> export_reader::continues(
    const std::optional<std::pair<std::int64_t, std::string>>& newest_shipped) {
    if (!newest_shipped) return {};
    const auto& [id, hash] = *newest_shipped;
    auto q = state_->db.prepare(
        "SELECT (SELECT hash FROM statements WHERE id = ?1), (SELECT coalesce(max(id), 0) FROM statements), "
        "(SELECT coalesce(max(last_id), 0) FROM chain_anchor)");
    if (!q) return unexpected(q.error());
    q->bind(1, id);
    if (q->step() != SQLITE_ROW) return unexpected(state_->db.error());
    if (!q->is_null(0)) {
        if (q->text(0) == hash) return {};
        return unexpected(fmt::format(
            "the destination holds a statement {} of this instance that differs from this file's: the file is not "
            "the one that shipped it (a new audit file under the same cluster.instance_id?) or it was rewritten; "
            "give this replica a new cluster.instance_id, or restore its file",
            id));
    }
    if (id <= q->integer(2)) return {};  // shipped, then deleted by retention
    return unexpected(fmt::format(
        "the destination holds statement {} of this instance, which this file does not (its newest is {}): the file "
        "was replaced or its newest rows were deleted; give this replica a new cluster.instance_id, or restore its "
        "file",
        id, q->integer(1)));
}

expected<std::vector<shipped_record>, std::string> export_reader::next(export_source source, std::size_t limit) {
    switch (source) {
        case export_source::policy_versions: return policy_versions(limit);
        case export_source::sessions:
        case export_source::session_ends: return sessions(source, limit);
        case export_source::events: return events(limit);
        case export_source::statements: return statements(limit);
    }
    return std::vector<shipped_record>{};
}

expected<std::vector<shipped_record>, std::string> export_reader::policy_versions(std::size_t limit) {
    std::vector<shipped_record> out;
    // rowid: the order versions were first loaded in (the key is the version text).
    auto q = state_->db.prepare(
        "SELECT rowid, version, loaded_at, source FROM policy_versions WHERE rowid > ? ORDER BY rowid LIMIT ?");
    if (!q) return unexpected(q.error());
    q->bind(1, cursor(export_source::policy_versions));
    q->bind(2, static_cast<std::int64_t>(limit));
    while (q->step() == SQLITE_ROW) {
        shipped_record r;
        r.source = export_source::policy_versions;
        r.id = q->integer(0);
        r.time_unix_nano = unix_nanos(q->text(2));
        r.body = "policy_loaded";
        const auto text = redact_verifiers(q->text(3));
        r.attributes = {{"event.name", "pgsieve.policy_loaded"},
                        {"pgsieve.policy_version", q->text(1)},
                        {"pgsieve.policy_source", text}};
        r.row = {{"version", q->text(1)}, {"loaded_at", q->text(2)}, {"source", text}};
        out.push_back(std::move(r));
    }
    return out;
}

expected<std::vector<shipped_record>, std::string> export_reader::sessions(export_source source, std::size_t limit) {
    std::vector<shipped_record> out;
    const bool ends = source == export_source::session_ends;
    auto q = state_->db.prepare(fmt::format(
        "SELECT {0}, id, started_at, ended_at, client, policy, client_addr, application_name, database, tls, "
        "end_reason, attributes FROM sessions WHERE {0} > ? ORDER BY {0} LIMIT ?",
        ends ? "end_seq" : "id"));
    if (!q) return unexpected(q.error());
    q->bind(1, cursor(source));
    q->bind(2, static_cast<std::int64_t>(limit));
    static constexpr const char* columns[] = {"id",          "started_at",       "ended_at", "client",
                                              "policy",      "client_addr",      "application_name",
                                              "database",    "tls",              "end_reason", "attributes"};
    static constexpr const char* attributes[] = {"pgsieve.session_id", nullptr, nullptr, "pgsieve.client",
                                                 "pgsieve.policy", "client.address", "pgsieve.application_name",
                                                 "db.namespace", "pgsieve.tls", "pgsieve.end_reason",
                                                 "pgsieve.attributes"};
    while (q->step() == SQLITE_ROW) {
        shipped_record r;
        r.source = source;
        r.id = q->integer(0);
        r.time_unix_nano = unix_nanos(q->text(ends ? 3 : 2));
        r.body = ends ? "session_ended" : "session_started";
        r.attributes.emplace_back("event.name", "pgsieve." + r.body);
        for (int c = 0; c < static_cast<int>(std::size(columns)); ++c) {
            if (q->is_null(c + 1)) continue;
            const auto v = q->column(c + 1);
            const shipped_record::value value = std::holds_alternative<std::int64_t>(v)
                                                    ? shipped_record::value(std::get<std::int64_t>(v))
                                                    : shipped_record::value(q->text(c + 1));
            if (attributes[c]) r.attributes.emplace_back(attributes[c], value);
            r.row.emplace_back(columns[c], value);
        }
        out.push_back(std::move(r));
    }
    return out;
}

expected<std::vector<shipped_record>, std::string> export_reader::events(std::size_t limit) {
    std::vector<shipped_record> out;
    auto q = state_->db.prepare("SELECT id, ts, session_id, kind, detail FROM events WHERE id > ? ORDER BY id LIMIT ?");
    if (!q) return unexpected(q.error());
    q->bind(1, cursor(export_source::events));
    q->bind(2, static_cast<std::int64_t>(limit));
    while (q->step() == SQLITE_ROW) {
        shipped_record r;
        r.source = export_source::events;
        r.id = q->integer(0);
        r.time_unix_nano = unix_nanos(q->text(1));
        r.body = q->text(3);
        r.attributes.emplace_back("event.name", "pgsieve." + r.body);
        if (!q->is_null(2)) r.attributes.emplace_back("pgsieve.session_id", q->integer(2));
        r.attributes.emplace_back("pgsieve.detail", q->text(4));
        r.row = {{"id", r.id}, {"ts", q->text(1)}, {"kind", q->text(3)}, {"detail", q->text(4)}};
        if (!q->is_null(2)) r.row.emplace_back("session_id", q->integer(2));
        out.push_back(std::move(r));
    }
    return out;
}

expected<std::vector<shipped_record>, std::string> export_reader::statements(std::size_t limit) {
    std::vector<shipped_record> out;
    const auto after = cursor(export_source::statements);
    auto q = state_->db.prepare(
        "SELECT s.id, s.ts, s.session_id, s.client, s.policy, s.policy_version, s.protocol, s.statement_name, s.sql, "
        "s.fingerprint, s.verdict, s.reason, s.rule, s.tables, s.columns, s.tags, s.command_tag, s.rows, s.bytes, "
        "s.duration_us, s.sqlstate, s.error, s.row_scoped, s.hash, se.database, se.client_addr, se.application_name, "
        "s.prev_hash, s.masked "
        "FROM statements s LEFT JOIN sessions se ON se.id = s.session_id WHERE s.id > ? ORDER BY s.id LIMIT ?");
    if (!q) return unexpected(q.error());
    q->bind(1, after);
    q->bind(2, static_cast<std::int64_t>(limit));
    auto tags = state_->db.prepare("SELECT key, value FROM json_each(?) WHERE type = 'text'");
    if (!tags) return unexpected(tags.error());
    while (q->step() == SQLITE_ROW) {
        shipped_record r;
        r.source = export_source::statements;
        r.id = q->integer(0);
        r.time_unix_nano = unix_nanos(q->text(1));
        r.body = q->text(8);
        r.hash = q->text(23);
        auto& a = r.attributes;
        a.reserve(40);  // about every column once, and the tags
        r.row.reserve(32);
        const auto text = [&](const char* key, int column) {
            if (!q->is_null(column)) a.emplace_back(key, q->text(column));
        };
        const auto number = [&](const char* key, int column) {
            if (!q->is_null(column)) a.emplace_back(key, q->integer(column));
        };
        // OpenTelemetry's database semantic conventions first, then pgsieve's own.
        a.emplace_back("db.system.name", "postgresql");
        text("db.namespace", 24);
        text("db.query.text", 8);
        if (!q->is_null(16)) a.emplace_back("db.operation.name", operation_of(q->text(16)));
        text("db.response.status_code", 20);
        number("db.response.returned_rows", 17);
        text("client.address", 25);
        text("pgsieve.application_name", 26);
        number("pgsieve.session_id", 2);
        text("pgsieve.client", 3);
        text("pgsieve.policy", 4);
        text("pgsieve.policy_version", 5);
        text("pgsieve.protocol", 6);
        text("pgsieve.statement_name", 7);
        text("pgsieve.fingerprint", 9);
        text("pgsieve.verdict", 10);
        text("pgsieve.reason", 11);
        text("pgsieve.rule", 12);
        text("pgsieve.tables", 13);
        text("pgsieve.columns", 14);
        text("pgsieve.command_tag", 16);
        number("pgsieve.rows", 17);
        number("pgsieve.bytes", 18);
        number("pgsieve.duration_us", 19);
        text("pgsieve.error", 21);
        text("pgsieve.row_scoped", 22);
        text("pgsieve.masked", 28);
        const auto verdict = q->text(10);
        r.failed = verdict != "allowed" || !q->is_null(20);
        tags->bind(1, q->text(15));
        while (tags->step() == SQLITE_ROW) {
            const auto key = tags->text(0);
            const auto value = tags->text(1);
            if (key == "traceparent") parse_traceparent(value, r.trace_id, r.span_id);
            a.emplace_back("pgsieve.tag." + key, value);
        }
        tags->reset();
        // The statements columns of the audit file (DESIGN.md §4), as they are.
        static constexpr const char* columns[] = {
            "id", "ts", "session_id", "client", "policy", "policy_version", "protocol", "statement_name", "sql",
            "fingerprint", "verdict", "reason", "rule", "tables", "columns", "tags", "command_tag", "rows", "bytes",
            "duration_us", "sqlstate", "error", "row_scoped", "hash"};
        for (int c = 0; c < 24; ++c) {
            if (q->is_null(c)) continue;
            if (auto v = q->column(c); std::holds_alternative<std::int64_t>(v))
                r.row.emplace_back(columns[c], std::get<std::int64_t>(v));
            else
                r.row.emplace_back(columns[c], q->text(c));
        }
        if (!q->is_null(28)) r.row.emplace_back("masked", q->text(28));
        r.row.emplace_back("prev_hash", q->text(27));
        out.push_back(std::move(r));
    }
    return out;
}

std::string idempotency_key(std::string_view instance_id, const shipped_record& r) {
    if (!r.hash.empty()) return fmt::format("{}/{}/{}/{}", instance_id, to_string(r.source), r.id, r.hash);
    // Rows outside the chain carry a digest of their content instead, so a
    // row of another file under the same instance id and id (a replaced
    // file) is not taken for a repeat.
    std::vector<sqlite::value> values;
    for (const auto& [column, value] : r.row) {
        values.emplace_back(column);
        if (const auto* n = std::get_if<std::int64_t>(&value)) values.emplace_back(*n);
        else values.emplace_back(std::get<std::string>(value));
    }
    return fmt::format("{}/{}/{}/{}", instance_id, to_string(r.source), r.id,
                       chain_hash(to_string(r.source), values).substr(0, 16));
}

}  // namespace pgsieve::audit
