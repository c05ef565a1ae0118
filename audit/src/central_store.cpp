// The central PostgreSQL audit store: the same rows as the audit file, from
// every replica, told apart by `instance`, partitioned by day.

#include <pgsieve/audit/export.hpp>
#include <pgsieve/common/sql_text.hpp>

#include "schema.hpp"
#include "sqlite.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <set>
#include <span>

namespace pgsieve::audit {

namespace {

// The store's tables: the audit file's columns (DESIGN.md §4) with the
// replica's instance id first. ts is a timestamptz here (the partition key).
constexpr std::string_view create_store = R"sql(
CREATE SCHEMA IF NOT EXISTS pgsieve_audit;
CREATE TABLE IF NOT EXISTS pgsieve_audit.statements (
    instance text NOT NULL, id bigint NOT NULL, ts timestamptz NOT NULL, session_id bigint, client text,
    policy text, policy_version text, protocol text, statement_name text, sql text, fingerprint text,
    verdict text NOT NULL, reason text, rule text, tables text, columns text, tags text, command_tag text,
    rows bigint, bytes bigint, duration_us bigint, sqlstate text, error text, row_scoped text,
    prev_hash text NOT NULL, hash text NOT NULL,
    PRIMARY KEY (instance, id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS pgsieve_audit.events (
    instance text NOT NULL, id bigint NOT NULL, ts timestamptz NOT NULL, session_id bigint, kind text NOT NULL,
    detail text NOT NULL,
    PRIMARY KEY (instance, id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS pgsieve_audit.sessions (
    instance text NOT NULL, id bigint NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz,
    client text NOT NULL, policy text, client_addr text, application_name text, database text, tls bigint NOT NULL,
    end_reason text, attributes text,
    PRIMARY KEY (instance, id)
);
CREATE TABLE IF NOT EXISTS pgsieve_audit.policy_versions (
    instance text NOT NULL, version text NOT NULL, loaded_at timestamptz NOT NULL, source text NOT NULL,
    PRIMARY KEY (instance, version)
);
)sql";

// The store's table for a stream, and what a row already there means.
struct stream_table {
    std::string_view table;
    bool by_day;                  // partitioned by its ts
    std::string_view on_conflict;
};

stream_table table_of(export_source source) {
    switch (source) {
        case export_source::policy_versions: return {"policy_versions", false, "DO NOTHING"};
        // A session's end may arrive before its start (the streams are
        // shipped batch by batch): either brings the whole row, an end wins.
        case export_source::sessions: return {"sessions", false, "DO NOTHING"};
        case export_source::session_ends:
            return {"sessions", false,
                    "(instance, id) DO UPDATE SET ended_at = excluded.ended_at, end_reason = excluded.end_reason"};
        case export_source::events: return {"events", true, "DO NOTHING"};
        case export_source::statements: break;
    }
    return {"statements", true, "DO NOTHING"};
}

std::string literal(const shipped_record::value& v) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) return std::to_string(*n);
    return quote_literal(std::get<std::string>(v));
}

}  // namespace

std::string central_store_sql(const std::vector<shipped_record>& records, std::string_view instance_id) {
    if (records.empty()) return {};
    const auto [table, by_day, on_conflict] = table_of(records.front().source);
    std::string sql(create_store);
    // A day's partition, made when its first row arrives ("2026-11-25T…" → 2026-11-25).
    std::set<std::string> days;
    for (const auto& r : records) {
        for (const auto& [column, value] : r.row) {
            if (by_day && column == "ts") days.insert(std::get<std::string>(value).substr(0, 10));
        }
    }
    for (const auto& day : days) {
        int y = 0;
        unsigned m = 0, d = 0;
        if (std::sscanf(day.c_str(), "%d-%u-%u", &y, &m, &d) != 3) continue;  // the INSERT then fails: retried, logged
        const std::chrono::sys_days from{std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d)};
        const std::chrono::year_month_day to{from + std::chrono::days(1)};
        sql += fmt::format(
            "CREATE TABLE IF NOT EXISTS pgsieve_audit.{0}_{1:04}{2:02}{3:02} PARTITION OF pgsieve_audit.{0} "
            "FOR VALUES FROM ('{1:04}-{2:02}-{3:02} 00:00:00+00') TO ('{4:04}-{5:02}-{6:02} 00:00:00+00');\n",
            table, y, m, d, static_cast<int>(to.year()), static_cast<unsigned>(to.month()),
            static_cast<unsigned>(to.day()));
    }
    // One INSERT per record: each names only its non-NULL columns.
    for (const auto& r : records) {
        std::string columns = "instance", values = quote_literal(instance_id);
        for (const auto& [column, value] : r.row) {
            columns += ", " + column;
            values += ", " + literal(value);
        }
        sql += fmt::format("INSERT INTO pgsieve_audit.{} ({}) VALUES ({}) ON CONFLICT {};\n", table, columns, values,
                           on_conflict);
    }
    return sql;
}

namespace {

// A time back as the audit file writes it (common/time.hpp's rfc3339), so the
// hash chain recomputes.
std::string as_written(std::string_view column) {
    return fmt::format(R"(to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))", column);
}
constexpr std::string_view statement_columns =
    "id, {ts}, session_id, client, policy, policy_version, protocol, statement_name, sql, fingerprint, verdict, "
    "reason, rule, tables, columns, tags, command_tag, rows, bytes, duration_us, sqlstate, error, row_scoped, "
    "prev_hash, hash";
constexpr int statement_integer_columns[] = {0, 2, 17, 18, 19};  // id, session_id, rows, bytes, duration_us
constexpr std::string_view session_columns =
    "id, {started_at}, {ended_at}, client, policy, client_addr, application_name, database, tls, end_reason, "
    "attributes";
constexpr int session_integer_columns[] = {0, 8};  // id, tls

}  // namespace

std::vector<std::string> central_store_newest_statement(std::string_view instance_id) {
    return {std::string(create_store),
            fmt::format("SELECT id, hash FROM pgsieve_audit.statements WHERE instance = {} ORDER BY id DESC LIMIT 1",
                        quote_literal(instance_id))};
}

std::vector<std::string> central_store_queries(std::string_view instance_id) {
    const auto instance = quote_literal(instance_id);
    return {fmt::format("SELECT {} FROM pgsieve_audit.statements WHERE instance = {} ORDER BY id",
                        fmt::format(fmt::runtime(statement_columns), fmt::arg("ts", as_written("ts"))), instance),
            fmt::format("SELECT id, {}, session_id, kind, detail FROM pgsieve_audit.events WHERE instance = {} "
                        "ORDER BY id",
                        as_written("ts"), instance),
            fmt::format("SELECT {} FROM pgsieve_audit.sessions WHERE instance = {} ORDER BY id",
                        fmt::format(fmt::runtime(session_columns), fmt::arg("started_at", as_written("started_at")),
                                    fmt::arg("ended_at", as_written("ended_at"))),
                        instance),
            fmt::format("SELECT version, {}, source FROM pgsieve_audit.policy_versions WHERE instance = {} "
                        "ORDER BY loaded_at",
                        as_written("loaded_at"), instance)};
}

expected<void, std::string> import_central_rows(const std::string& path,
                                                const std::vector<std::vector<text_row>>& tables) {
    if (tables.size() != 4) return unexpected(std::string("the central store's answer is not the four tables asked for"));
    auto db = sqlite::database::open(path, false);
    if (!db) return unexpected(db.error());
    if (auto r = ensure_schema(*db); !r) return r;
    if (auto r = db->exec("BEGIN"); !r) return r;
    const auto insert = [&](std::string_view sql, const std::vector<text_row>& rows,
                            std::span<const int> integers) -> expected<void, std::string> {
        auto s = db->prepare(sql);
        if (!s) return unexpected(s.error());
        for (const auto& row : rows) {
            for (std::size_t c = 0; c < row.size(); ++c) {
                const int at = static_cast<int>(c) + 1;
                if (!row[c]) s->bind_null(at);
                else if (std::find(integers.begin(), integers.end(), static_cast<int>(c)) != integers.end()) {
                    std::int64_t n = 0;
                    const auto& text = *row[c];
                    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
                    if (ec != std::errc() || end != text.data() + text.size())
                        return unexpected(fmt::format("\"{}\" where a number belongs", text));
                    s->bind(at, n);
                } else {
                    s->bind(at, *row[c]);
                }
            }
            if (s->step() != SQLITE_DONE) return unexpected(db->error());
            s->reset();
        }
        return {};
    };
    if (auto r = insert("INSERT INTO statements (" +
                            fmt::format(fmt::runtime(statement_columns), fmt::arg("ts", "ts")) +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        tables[0], statement_integer_columns);
        !r)
        return r;
    constexpr int event_integers[] = {0, 2};
    if (auto r = insert("INSERT INTO events (id, ts, session_id, kind, detail) VALUES (?, ?, ?, ?, ?)", tables[1],
                        event_integers);
        !r)
        return r;
    if (auto r = insert("INSERT INTO sessions (" +
                            fmt::format(fmt::runtime(session_columns), fmt::arg("started_at", "started_at"),
                                        fmt::arg("ended_at", "ended_at")) +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        tables[2], session_integer_columns);
        !r)
        return r;
    if (auto r = insert("INSERT INTO policy_versions (version, loaded_at, source) VALUES (?, ?, ?)", tables[3], {});
        !r)
        return r;
    return db->exec("COMMIT");
}

}  // namespace pgsieve::audit
