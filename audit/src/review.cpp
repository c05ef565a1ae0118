#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/checkpoint.hpp>

#include "schema.hpp"
#include "sqlite.hpp"

#include <fmt/format.h>

#include <charconv>

namespace pgsieve::audit {

class database_reader {
public:
    explicit database_reader(sqlite::database db) : db(std::move(db)) {}
    sqlite::database db;
};

namespace {

// Runs `sql` with text/integer parameters; every row into a result_set.
expected<result_set, std::string> query(sqlite::database& db, std::string title, const std::string& sql,
                                        const std::vector<cell>& params) {
    auto s = db.prepare(sql);
    if (!s) return unexpected(s.error());
    for (std::size_t i = 0; i < params.size(); ++i) s->bind_value(static_cast<int>(i + 1), params[i]);
    result_set out;
    out.title = std::move(title);
    for (int i = 0; i < s->columns(); ++i) out.columns.push_back(s->name(i));
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        std::vector<cell> row;
        for (int i = 0; i < s->columns(); ++i) row.push_back(s->column(i));
        out.rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return unexpected(db.error());
    return out;
}

// The WHERE clause of a statement filter, with its parameters.
std::string where(const statement_filter& f, std::vector<cell>& params) {
    std::string w = " WHERE 1 = 1";
    if (f.refused_only) w += " AND verdict <> 'allowed'";
    if (!f.client.empty()) {
        w += " AND client = ?";
        params.emplace_back(f.client);
    }
    if (f.since) {
        w += " AND ts >= ?";
        params.emplace_back(*f.since);
    }
    if (!f.table.empty()) {
        if (f.table.find('.') != std::string::npos) {
            w += " AND EXISTS (SELECT 1 FROM json_each(statements.tables) WHERE value = ?)";
        } else {
            w += " AND EXISTS (SELECT 1 FROM json_each(statements.tables) "
                 "WHERE substr(value, instr(value, '.') + 1) = ?)";
        }
        params.emplace_back(f.table);
    }
    return w;
}

}  // namespace

expected<std::string, std::string> parse_since(std::string_view text, sys_time now) {
    if (text.empty()) return unexpected(std::string("--since needs a value such as 1h, 30m, 7d or 2026-11-24T10:00:00Z"));
    const char unit = text.back();
    if (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') {
        std::int64_t n = 0;
        const auto digits = text.substr(0, text.size() - 1);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() && n >= 0) {
            const std::int64_t seconds = n * (unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400);
            return rfc3339(now - std::chrono::seconds(seconds));
        }
    }
    // A time or a date as the log stores it (UTC): compared as text.
    if (text.size() >= 10 && text[4] == '-' && text[7] == '-') return std::string(text);
    return unexpected(fmt::format("--since \"{}\": expected a duration (90s, 30m, 1h, 7d) or a UTC time "
                                  "(2026-11-24 or 2026-11-24T10:00:00Z)",
                                  text));
}

expected<review, std::string> review::open(const std::string& path) {
    auto db = sqlite::database::open(path, true);
    if (!db) return unexpected(db.error());
    if (auto r = check_schema(*db); !r) return unexpected(fmt::format("{}: {}", path, r.error()));
    return review(std::make_unique<database_reader>(std::move(*db)));
}

review::review(std::unique_ptr<database_reader> db) : db_(std::move(db)) {}
review::review(review&&) noexcept = default;
review::~review() = default;

expected<result_set, std::string> review::list(const statement_filter& f) {
    std::vector<cell> params;
    std::string sql =
        "SELECT id, ts, client, verdict, rule, command_tag AS tag, rows, duration_us, sqlstate, sql, reason "
        "FROM statements" +
        where(f, params) + " ORDER BY id DESC";
    if (f.limit > 0) {
        sql += " LIMIT ?";
        params.emplace_back(f.limit);
    }
    return query(db_->db, "statements", sql, params);
}

expected<std::vector<result_set>, std::string> review::show(std::int64_t id) {
    auto statement = query(db_->db, "statement", "SELECT * FROM statements WHERE id = ?", {id});
    if (!statement) return unexpected(statement.error());
    if (statement->rows.empty()) return unexpected(fmt::format("no statement with id {}", id));
    std::vector<result_set> out{std::move(*statement)};
    const auto& row = out[0].rows[0];
    cell session_id, version;
    for (std::size_t i = 0; i < out[0].columns.size(); ++i) {
        if (out[0].columns[i] == "session_id") session_id = row[i];
        if (out[0].columns[i] == "policy_version") version = row[i];
    }
    auto session = query(db_->db, "session", "SELECT * FROM sessions WHERE id = ?", {session_id});
    if (!session) return unexpected(session.error());
    out.push_back(std::move(*session));
    auto policy = query(db_->db, "policy version",
                        "SELECT version, loaded_at, source FROM policy_versions WHERE version = ?", {version});
    if (!policy) return unexpected(policy.error());
    out.push_back(std::move(*policy));
    return out;
}

expected<std::vector<result_set>, std::string> review::stats(const std::optional<std::string>& since) {
    const std::string ts = since ? " WHERE ts >= ?1" : "";
    const std::string and_ts = since ? " AND ts >= ?1" : "";
    std::vector<cell> params;
    if (since) params.emplace_back(*since);
    const std::pair<const char*, std::string> sections[] = {
        {"verdicts by client",
         "SELECT client, sum(verdict = 'allowed') AS allowed, sum(verdict = 'blocked') AS blocked, "
         "sum(verdict = 'would_block') AS would_block, count(*) AS total FROM statements" + ts +
             " GROUP BY client ORDER BY blocked + would_block DESC, total DESC"},
        {"refusals by rule",
         "SELECT rule, count(*) AS refused, group_concat(DISTINCT client) AS clients FROM statements "
         "WHERE verdict <> 'allowed'" + and_ts + " GROUP BY rule ORDER BY refused DESC"},
        {"top refused statements",
         "SELECT count(*) AS refused, group_concat(DISTINCT client) AS clients, min(rule) AS rule, "
         "min(reason) AS reason, min(sql) AS example FROM statements WHERE verdict <> 'allowed'" + and_ts +
             " GROUP BY coalesce(fingerprint, sql) ORDER BY refused DESC LIMIT 10"},
        {"top tables",
         "SELECT t.value AS \"table\", sum(verdict = 'allowed') AS allowed, sum(verdict <> 'allowed') AS refused "
         "FROM statements, json_each(statements.tables) AS t" + ts +
             " GROUP BY t.value ORDER BY refused DESC, allowed DESC LIMIT 10"},
        {"by hour",
         "SELECT substr(ts, 1, 13) || ':00Z' AS hour, sum(verdict = 'allowed') AS allowed, "
         "sum(verdict <> 'allowed') AS refused, sum(sqlstate IS NOT NULL AND verdict = 'allowed') AS errors "
         "FROM statements" + ts + " GROUP BY hour ORDER BY hour DESC LIMIT 24"},
        {"events", "SELECT kind, count(*) AS count, max(ts) AS latest FROM events" + ts +
                       " GROUP BY kind ORDER BY count DESC"},
    };
    std::vector<result_set> out;
    for (const auto& [title, sql] : sections) {
        auto r = query(db_->db, title, sql, params);
        if (!r) return unexpected(r.error());
        out.push_back(std::move(*r));
    }
    return out;
}

expected<void, std::string> review::export_statements(const statement_filter& f, const row_callback& row) {
    std::vector<cell> params;
    const std::string sql = "SELECT * FROM statements" + where(f, params) + " ORDER BY id";
    auto s = db_->db.prepare(sql);
    if (!s) return unexpected(s.error());
    for (std::size_t i = 0; i < params.size(); ++i) s->bind_value(static_cast<int>(i + 1), params[i]);
    std::vector<std::string> columns;
    for (int i = 0; i < s->columns(); ++i) columns.push_back(s->name(i));
    int rc;
    std::vector<cell> values;
    while ((rc = s->step()) == SQLITE_ROW) {
        values.clear();
        for (int i = 0; i < s->columns(); ++i) values.push_back(s->column(i));
        row(columns, values);
    }
    if (rc != SQLITE_DONE) return unexpected(db_->db.error());
    return {};
}

expected<verify_result, std::string> review::verify() {
    auto s = db_->db.prepare(fmt::format("SELECT {}, prev_hash, hash FROM statements ORDER BY id", chained_columns));
    if (!s) return unexpected(s.error());
    verify_result out;
    std::string expected_prev = genesis_hash;
    std::int64_t previous_id = 0;
    // After retention, the chain starts at its anchor: the last row deleted.
    bool anchored = false;
    auto anchor = db_->db.prepare("SELECT last_id, last_hash FROM chain_anchor");
    if (!anchor) {
        // A file older than audit schema 3 has no anchor table.
        if (db_->db.error().find("no such table") == std::string::npos) return unexpected(anchor.error());
    } else if (anchor->step() == SQLITE_ROW) {
        previous_id = anchor->integer(0);
        expected_prev = anchor->text(1);
        anchored = true;
    }
    std::vector<sqlite::value> row;
    int rc;
    while ((rc = s->step()) == SQLITE_ROW) {
        row.clear();
        for (int i = 0; i < chained_column_count; ++i) row.push_back(s->column(i));
        const auto id = s->integer(0);
        const auto prev = s->text(chained_column_count);
        const auto hash = s->text(chained_column_count + 1);
        if (prev != expected_prev) {
            out.first_bad_id = id;
            out.why = previous_id == 0
                          ? "its prev_hash is not the start of the chain: rows before it were deleted, or it was changed"
                      : anchored && out.checked == 0
                          ? fmt::format("its prev_hash is not the retention anchor (row {}, deleted as shipped and "
                                        "old): rows after the anchor were deleted, or it was changed",
                                        previous_id)
                          : fmt::format("its prev_hash does not match the hash of row {}: a row between was deleted, "
                                        "or one of them was changed",
                                        previous_id);
            return out;
        }
        if (chain_hash(prev, row) != hash) {
            out.first_bad_id = id;
            out.why = "its contents do not match its hash: the row was changed after it was written";
            return out;
        }
        expected_prev = hash;
        previous_id = id;
        ++out.checked;
    }
    if (rc != SQLITE_DONE) return unexpected(db_->db.error());
    return out;
}

expected<verify_result, std::string> review::verify_checkpoints(std::string_view key) {
    auto checkpoints = db_->db.prepare(fmt::format(
        "SELECT id, json_extract(detail, '$.instance'), json_extract(detail, '$.last_id'), "
        "json_extract(detail, '$.last_hash'), json_extract(detail, '$.mac') FROM events WHERE kind = '{}' "
        "AND json_valid(detail) ORDER BY id",
        checkpoint_event));
    if (!checkpoints) return unexpected(checkpoints.error());
    auto statement = db_->db.prepare("SELECT hash FROM statements WHERE id = ?");
    if (!statement) return unexpected(statement.error());
    // Rows retention deleted end at the anchor (absent before audit schema 3).
    std::int64_t anchor_id = 0;
    std::string anchor_hash;
    if (auto anchor = db_->db.prepare("SELECT last_id, last_hash FROM chain_anchor"); anchor && anchor->step() == SQLITE_ROW) {
        anchor_id = anchor->integer(0);
        anchor_hash = anchor->text(1);
    }
    verify_result out;
    int rc;
    while ((rc = checkpoints->step()) == SQLITE_ROW) {
        const auto event_id = checkpoints->integer(0);
        const auto instance = checkpoints->text(1);
        const auto last_id = std::strtoll(checkpoints->text(2).c_str(), nullptr, 10);
        const auto last_hash = checkpoints->text(3);
        if (checkpoint_mac(key, instance, last_id, last_hash) != checkpoints->text(4)) {
            out.first_bad_id = last_id;
            out.why = fmt::format("checkpoint event {} is not signed with this key: it was forged or altered (or the "
                                  "key is not the one the replica signs with)",
                                  event_id);
            return out;
        }
        statement->bind(1, last_id);
        const bool present = statement->step() == SQLITE_ROW;
        const auto hash = present ? statement->text(0) : std::string();
        statement->reset();
        if (present && hash != last_hash) {
            out.first_bad_id = last_id;
            out.why = fmt::format("its hash is not the one checkpoint event {} signed: the row, or the chain before it, "
                                  "was rewritten",
                                  event_id);
            return out;
        }
        if (!present && !(last_id < anchor_id || (last_id == anchor_id && last_hash == anchor_hash))) {
            out.first_bad_id = last_id;
            out.why = fmt::format("checkpoint event {} signed it, and it is gone: the newest rows were deleted",
                                  event_id);
            return out;
        }
        ++out.checked;
    }
    if (rc != SQLITE_DONE) return unexpected(db_->db.error());
    return out;
}

}  // namespace pgsieve::audit
