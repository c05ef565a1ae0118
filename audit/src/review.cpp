#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/checkpoint.hpp>
#include <pgsieve/audit/export.hpp>

#include "schema.hpp"
#include "sqlite.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace pgsieve::audit {

class database_reader {
public:
    database_reader(sqlite::database db, bool merged) : db(std::move(db)), merged(merged) {}
    sqlite::database db;
    // Several logs, attached to an in-memory database and read through TEMP
    // views of the audit tables' names with a `log` column first.
    bool merged = false;
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
    if (!f.policy.empty()) {
        w += " AND policy = ?";
        params.emplace_back(f.policy);
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

std::string cell_text(const cell& c) {
    if (const auto* s = std::get_if<std::string>(&c)) return *s;
    if (const auto* i = std::get_if<std::int64_t>(&c)) return std::to_string(*i);
    return "";
}

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
    return review(std::make_unique<database_reader>(std::move(*db), false));
}

namespace {

std::string sqlite_literal(std::string_view text) {
    std::string out = "'";
    for (const char c : text) {
        out += c;
        if (c == '\'') out += c;
    }
    return out + "'";
}

// A name read from a file, for an error message: quoted, controls as \xNN.
std::string escaped(std::string_view name) {
    std::string out = "\"";
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F || c == '"' || c == '\\') out += fmt::format("\\x{:02x}", u);
        else out += c;
    }
    return out + "\"";
}

// The tables the review reads, merged across logs.
constexpr std::string_view merged_tables[] = {"statements", "sessions", "events", "policy_versions"};

expected<std::vector<std::string>, std::string> columns_of(sqlite::database& db, std::string_view schema,
                                                           std::string_view table) {
    auto s = db.prepare("SELECT name FROM pragma_table_info(?, ?) ORDER BY cid");
    if (!s) return unexpected(s.error());
    s->bind(1, table);
    s->bind(2, schema);
    std::vector<std::string> out;
    while (s->step() == SQLITE_ROW) out.push_back(s->text(0));
    return out;
}

}  // namespace

expected<review, std::string> review::open(const std::vector<review_source>& sources) {
    if (sources.empty()) return unexpected(std::string("no audit log to review"));
    if (sources.size() == 1) return open(sources.front().path);
    // Attached files take the read-only flag of the connection; TEMP objects
    // live apart from them.
    auto db = sqlite::database::open(":memory:", true);
    if (!db) return unexpected(db.error());
    const auto attach = [&db](std::size_t i, const std::string& path) -> expected<void, std::string> {
        auto s = db->prepare(fmt::format("ATTACH DATABASE ? AS src{}", i));
        if (!s) return unexpected(s.error());
        s->bind(1, path);
        if (s->step() != SQLITE_DONE) return unexpected(fmt::format("{}: {}", path, db->error()));
        if (auto r = check_schema(*db, fmt::format("src{}", i)); !r)
            return unexpected(fmt::format("{}: {}", path, r.error()));
        return {};
    };
    const auto detach = [&db](std::size_t i) { return db->run_one(fmt::format("DETACH DATABASE src{}", i)); };
    // Each table's columns in each log: a column an older schema lacks reads as NULL.
    std::vector<std::string> labels;
    std::vector<std::array<std::vector<std::string>, std::size(merged_tables)>> columns(sources.size());
    std::array<std::vector<std::string>, std::size(merged_tables)> all;
    for (std::size_t i = 0; i < sources.size(); ++i) {
        if (std::find(labels.begin(), labels.end(), sources[i].label) != labels.end())
            return unexpected(fmt::format("{} is named twice", sources[i].label));
        labels.push_back(sources[i].label);
        if (auto r = attach(i, sources[i].path); !r) return unexpected(r.error());
        for (std::size_t t = 0; t < std::size(merged_tables); ++t) {
            auto found = columns_of(*db, fmt::format("src{}", i), merged_tables[t]);
            if (!found) return unexpected(found.error());
            for (const auto& c : *found) {
                // A crafted file's column names would be spliced into the merged views.
                if (!known_column(merged_tables[t], c))
                    return unexpected(fmt::format("{}: table {} has a column no pgsieve audit schema has: {}; "
                                                  "refusing to merge it",
                                                  sources[i].path, merged_tables[t], escaped(c)));
            }
            for (const auto& c : *found) {
                if (std::find(all[t].begin(), all[t].end(), c) == all[t].end()) all[t].push_back(c);
            }
            columns[i][t] = std::move(*found);
        }
        if (auto r = detach(i); !r) return unexpected(r.error());
    }
    const auto select = [&](std::size_t i, std::size_t t) {
        std::string sql = "SELECT " + sqlite_literal(sources[i].label) + " AS log";
        for (const auto& c : all[t]) {
            const bool has = std::find(columns[i][t].begin(), columns[i][t].end(), c) != columns[i][t].end();
            sql += has ? fmt::format(", \"{}\"", c) : fmt::format(", NULL AS \"{}\"", c);
        }
        return sql + fmt::format(" FROM src{}.{}", i, merged_tables[t]);
    };
    // Up to SQLite's limit of attached files (10 in Debian's build), views
    // over the files; past it, the rows are copied into TEMP tables, one log
    // attached at a time.
    const auto limit = static_cast<std::size_t>(sqlite3_limit(db->handle(), SQLITE_LIMIT_ATTACHED, -1));
    if (sources.size() <= limit) {
        for (std::size_t i = 0; i < sources.size(); ++i) {
            if (auto r = attach(i, sources[i].path); !r) return unexpected(r.error());
        }
        for (std::size_t t = 0; t < std::size(merged_tables); ++t) {
            std::string view;
            for (std::size_t i = 0; i < sources.size(); ++i) view += (i ? " UNION ALL " : "") + select(i, t);
            if (auto r = db->run_one(fmt::format("CREATE TEMP VIEW {} AS {}", merged_tables[t], view)); !r)
                return unexpected(r.error());
        }
    } else {
        for (std::size_t i = 0; i < sources.size(); ++i) {
            if (auto r = attach(i, sources[i].path); !r) return unexpected(r.error());
            for (std::size_t t = 0; t < std::size(merged_tables); ++t) {
                const auto sql = i == 0 ? fmt::format("CREATE TEMP TABLE {} AS {}", merged_tables[t], select(i, t))
                                        : fmt::format("INSERT INTO temp.{} {}", merged_tables[t], select(i, t));
                if (auto r = db->run_one(sql); !r) return unexpected(r.error());
            }
            if (auto r = detach(i); !r) return unexpected(r.error());
        }
    }
    return review(std::make_unique<database_reader>(std::move(*db), true));
}

review::review(std::unique_ptr<database_reader> db) : db_(std::move(db)) {}
review::review(review&&) noexcept = default;
review::~review() = default;

expected<result_set, std::string> review::list(const statement_filter& f) {
    std::vector<cell> params;
    std::string sql = std::string(db_->merged ? "SELECT log, " : "SELECT ") +
                      "id, ts, client, verdict, rule, command_tag AS tag, rows, duration_us, sqlstate, sql, reason "
                      "FROM statements" +
                      where(f, params) + (db_->merged ? " ORDER BY ts DESC, log DESC, id DESC" : " ORDER BY id DESC");
    if (f.limit > 0) {
        sql += " LIMIT ?";
        params.emplace_back(f.limit);
    }
    return query(db_->db, "statements", sql, params);
}

expected<std::vector<result_set>, std::string> review::show(std::int64_t id) {
    auto statements = query(db_->db, "statement", "SELECT * FROM statements WHERE id = ?", {id});
    if (!statements) return unexpected(statements.error());
    if (statements->rows.empty()) return unexpected(fmt::format("no statement with id {}", id));
    // Its session and policy version from its own log: ids are per log.
    const std::string same_log = db_->merged ? " AND log = ?" : "";
    std::vector<result_set> out;
    for (auto& row : statements->rows) {
        cell session_id, version, log;
        for (std::size_t i = 0; i < statements->columns.size(); ++i) {
            if (statements->columns[i] == "session_id") session_id = row[i];
            if (statements->columns[i] == "policy_version") version = row[i];
            if (statements->columns[i] == "log") log = row[i];
        }
        const auto params = [&](cell key) {
            return db_->merged ? std::vector<cell>{std::move(key), log} : std::vector<cell>{std::move(key)};
        };
        // Titles name the log, so JSON's keys stay unique.
        const auto title = [&](std::string what) {
            return db_->merged ? fmt::format("{} in {}", what, std::get<std::string>(log)) : what;
        };
        out.push_back(result_set{title("statement"), statements->columns, {std::move(row)}});
        auto session = query(db_->db, title("session"), "SELECT * FROM sessions WHERE id = ?" + same_log, params(session_id));
        if (!session) return unexpected(session.error());
        // end_seq orders the export (schema 4), nothing a reviewer reads.
        if (const auto at = std::find(session->columns.begin(), session->columns.end(), "end_seq");
            at != session->columns.end()) {
            const auto i = at - session->columns.begin();
            session->columns.erase(at);
            for (auto& r : session->rows) r.erase(r.begin() + i);
        }
        out.push_back(std::move(*session));
        auto policy = query(db_->db, title("policy version"),
                            "SELECT version, loaded_at, source FROM policy_versions WHERE version = ?" + same_log,
                            params(version));
        if (!policy) return unexpected(policy.error());
        out.push_back(std::move(*policy));
    }
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
    if (db_->merged) {
        auto r = query(db_->db, "verdicts by log",
                       "SELECT log, sum(verdict = 'allowed') AS allowed, sum(verdict = 'blocked') AS blocked, "
                       "sum(verdict = 'would_block') AS would_block, count(*) AS total FROM statements" +
                           ts + " GROUP BY log ORDER BY log",
                       params);
        if (!r) return unexpected(r.error());
        out.push_back(std::move(*r));
    }
    for (const auto& [title, sql] : sections) {
        auto r = query(db_->db, title, sql, params);
        if (!r) return unexpected(r.error());
        out.push_back(std::move(*r));
    }
    return out;
}

expected<result_set, std::string> review::policy_versions() {
    return query(db_->db, "policy versions",
                 std::string("SELECT ") + (db_->merged ? "log, " : "") +
                     "version, loaded_at, source FROM policy_versions ORDER BY loaded_at, version",
                 {});
}

expected<void, std::string> review::export_statements(const statement_filter& f, const row_callback& row) {
    std::vector<cell> params;
    const std::string sql = "SELECT * FROM statements" + where(f, params) +
                            (db_->merged ? " ORDER BY ts, log, id" : " ORDER BY id");
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

namespace {

// A table's rows in key order, each as column -> value, and where each key is.
struct keyed_rows {
    std::vector<std::pair<std::string, std::map<std::string, cell>>> rows;
    std::map<std::string, std::size_t> at;
    const std::map<std::string, cell>* find(const std::string& key) const {
        const auto it = at.find(key);
        return it == at.end() ? nullptr : &rows[it->second].second;
    }
};

expected<keyed_rows, std::string> rows_by_key(sqlite::database& db, const char* table, const char* key) {
    auto rows = query(db, table, fmt::format("SELECT * FROM {} ORDER BY {}", table, key), {});
    if (!rows) return unexpected(rows.error());
    keyed_rows out;
    for (const auto& row : rows->rows) {
        std::map<std::string, cell> columns;
        for (std::size_t i = 0; i < row.size(); ++i) columns.emplace(rows->columns[i], row[i]);
        const auto& k = columns.at(key);
        const auto* n = std::get_if<std::int64_t>(&k);
        const auto* t = std::get_if<std::string>(&k);
        std::string name = n ? std::to_string(*n) : t ? *t : std::string();
        out.at.emplace(name, out.rows.size());
        out.rows.emplace_back(std::move(name), std::move(columns));
    }
    return out;
}

}  // namespace

expected<review::shipped_comparison, std::string> review::compare_shipped(review& shipped) {
    if (db_->merged || shipped.db_->merged)
        return unexpected(std::string("a file is compared with the store one log at a time"));
    shipped_comparison out;
    // Statements: the chain hash covers every column and every row before.
    {
        auto mine = rows_by_key(db_->db, "statements", "id");
        auto theirs = rows_by_key(shipped.db_->db, "statements", "id");
        if (!mine || !theirs) return unexpected(!mine ? mine.error() : theirs.error());
        for (const auto& [id, row] : theirs->rows) {
            ++out.checked["statements"];
            const auto* found = mine->find(id);
            if (!found) {
                out.mismatch = shipped_mismatch{"statements", id, true, {}};
                return out;
            }
            if (found->at("hash") != row.at("hash")) {
                out.mismatch = shipped_mismatch{"statements", id, false, "the row or the chain before it was rewritten"};
                return out;
            }
        }
    }
    // The rest, column by column, as shipped.
    struct table_key {
        const char* table;
        const char* key;
    };
    for (const auto& [table, key] : {table_key{"sessions", "id"}, table_key{"events", "id"},
                                     table_key{"policy_versions", "version"}}) {
        auto mine = rows_by_key(db_->db, table, key);
        auto theirs = rows_by_key(shipped.db_->db, table, key);
        if (!mine || !theirs) return unexpected(!mine ? mine.error() : theirs.error());
        for (const auto& [id, row] : theirs->rows) {
            ++out.checked[table];
            const auto* found = mine->find(id);
            if (!found) {
                out.mismatch = shipped_mismatch{table, id, true, {}};
                return out;
            }
            for (const auto& [column, value] : row) {
                // The order sessions ended in is the file's own bookkeeping;
                // a session's end is compared once it was shipped.
                if (column == "end_seq") continue;
                if (std::string_view(table) == "sessions" && (column == "ended_at" || column == "end_reason") &&
                    std::holds_alternative<std::monostate>(value))
                    continue;
                const auto here = found->find(column);
                cell mine_value = here == found->end() ? cell{} : here->second;
                // Policy text leaves the machine with client verifiers redacted.
                if (column == "source") {
                    if (const auto* text = std::get_if<std::string>(&mine_value)) mine_value = redact_verifiers(*text);
                }
                if (mine_value != value) {
                    out.mismatch = shipped_mismatch{table, id, false, column + " differs"};
                    return out;
                }
            }
        }
    }
    return out;
}

expected<verify_result, std::string> review::verify() {
    if (db_->merged) return unexpected(std::string("each audit log has its own chain: verify them one at a time"));
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
    if (db_->merged) return unexpected(std::string("each audit log has its own checkpoints: verify them one at a time"));
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
