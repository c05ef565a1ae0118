// The central PostgreSQL audit store: the same rows as the audit file, from
// every replica, told apart by `instance`, partitioned by day.

#include <pgsieve/audit/export.hpp>
#include <pgsieve/common/sql_text.hpp>

#include "schema.hpp"
#include "sqlite.hpp"

#include <fmt/format.h>

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
)sql";

std::string literal(const shipped_record::value& v) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) return std::to_string(*n);
    return quote_literal(std::get<std::string>(v));
}

}  // namespace

std::string central_store_sql(const std::vector<shipped_record>& records, std::string_view instance_id) {
    if (records.empty()) return {};
    const auto table = to_string(records.front().source);
    std::string sql(create_store);
    // A day's partition, made when its first row arrives ("2026-11-25T…" → 2026-11-25).
    std::set<std::string> days;
    for (const auto& r : records) {
        for (const auto& [column, value] : r.row) {
            if (column == "ts") days.insert(std::get<std::string>(value).substr(0, 10));
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
        sql += fmt::format("INSERT INTO pgsieve_audit.{} ({}) VALUES ({}) ON CONFLICT DO NOTHING;\n", table, columns,
                           values);
    }
    return sql;
}

namespace {

// ts back as the audit file writes it (common/time.hpp's rfc3339), so the
// hash chain recomputes.
constexpr std::string_view ts_text = R"(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))";
constexpr std::string_view statement_columns =
    "id, {ts}, session_id, client, policy, policy_version, protocol, statement_name, sql, fingerprint, verdict, "
    "reason, rule, tables, columns, tags, command_tag, rows, bytes, duration_us, sqlstate, error, row_scoped, "
    "prev_hash, hash";
constexpr int statement_integer_columns[] = {0, 2, 17, 18, 19};  // id, session_id, rows, bytes, duration_us

}  // namespace

std::vector<std::string> central_store_queries(std::string_view instance_id) {
    return {fmt::format("SELECT {} FROM pgsieve_audit.statements WHERE instance = {} ORDER BY id",
                        fmt::format(fmt::runtime(statement_columns), fmt::arg("ts", ts_text)),
                        quote_literal(instance_id)),
            fmt::format("SELECT id, {}, session_id, kind, detail FROM pgsieve_audit.events WHERE instance = {} "
                        "ORDER BY id",
                        ts_text, quote_literal(instance_id))};
}

expected<void, std::string> import_central_rows(const std::string& path, const std::vector<text_row>& statements,
                                                const std::vector<text_row>& events) {
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
                else if (std::find(integers.begin(), integers.end(), static_cast<int>(c)) != integers.end())
                    s->bind(at, static_cast<std::int64_t>(std::stoll(*row[c])));
                else s->bind(at, *row[c]);
            }
            if (s->step() != SQLITE_DONE) return unexpected(db->error());
            s->reset();
        }
        return {};
    };
    if (auto r = insert("INSERT INTO statements (" +
                            fmt::format(fmt::runtime(statement_columns), fmt::arg("ts", "ts")) +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        statements, statement_integer_columns);
        !r)
        return r;
    constexpr int event_integers[] = {0, 2};
    if (auto r = insert("INSERT INTO events (id, ts, session_id, kind, detail) VALUES (?, ?, ?, ?, ?)", events,
                        event_integers);
        !r)
        return r;
    return db->exec("COMMIT");
}

}  // namespace pgsieve::audit
