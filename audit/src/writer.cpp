#include "writer.hpp"

#include "schema.hpp"

#include <pgsieve/audit/fingerprint.hpp>
#include <pgsieve/audit/tags.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/common/utf8.hpp>
#include <pgsieve/parser/parse.hpp>

#include <fmt/format.h>

#include <limits>

namespace pgsieve::audit {

namespace {

enum prepared_index { insert_session, end_session, insert_statement, insert_event, insert_policy };

constexpr std::string_view prepared_sql[] = {
    "INSERT OR REPLACE INTO sessions (id, started_at, client, policy, client_addr, application_name, database, tls, "
    "attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    // end_seq: the next in the order sessions end (the export's session_ends cursor).
    "UPDATE sessions SET ended_at = ?, end_reason = ?, "
    "end_seq = (SELECT coalesce(max(end_seq), 0) + 1 FROM sessions) WHERE id = ? AND ended_at IS NULL",
    "INSERT INTO statements (id, session_id, ts, client, policy, policy_version, protocol, statement_name, sql, "
    "fingerprint, verdict, reason, rule, tables, columns, tags, command_tag, rows, bytes, duration_us, sqlstate, "
    "error, row_scoped, masked, prev_hash, hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO events (ts, session_id, kind, detail) VALUES (?, ?, ?, ?)",
    "INSERT OR IGNORE INTO policy_versions (version, loaded_at, source) VALUES (?, ?, ?)",
};

sqlite::value text_or_null(const std::string& s) {
    if (s.empty()) return std::monostate{};
    return s;
}

// statements.masked: NULL when nothing was masked.
sqlite::value masked_json(const std::vector<statement::masked_column>& masked) {
    if (masked.empty()) return std::monostate{};
    return masked_columns_json(masked);
}

std::string json_array(const std::vector<std::string>& items) {
    std::string out = "[";
    std::size_t size = 2;
    for (const auto& item : items) size += item.size() + 3;
    out.reserve(size);
    for (const auto& item : items) {
        if (out.size() > 1) out += ',';
        log::append_json_string(out, item);
    }
    out += ']';
    return out;
}

std::int64_t as_int(std::uint64_t n) { return static_cast<std::int64_t>(n); }

}  // namespace

expected<std::unique_ptr<writer>, std::string> writer::open(const std::string& path) {
    auto db = sqlite::database::open(path, false);
    if (!db) return unexpected(db.error());
    if (auto r = ensure_schema(*db); !r) return unexpected(fmt::format("{}: {}", path, r.error()));
    std::unique_ptr<writer> w(new writer(std::move(*db)));
    if (auto r = w->prepare_statements(); !r) return unexpected(fmt::format("{}: {}", path, r.error()));

    auto last = w->db_.prepare("SELECT id, hash FROM statements ORDER BY id DESC LIMIT 1");
    if (!last) return unexpected(fmt::format("{}: {}", path, last.error()));
    if (last->step() == SQLITE_ROW) {
        w->last_id_ = last->integer(0);
        w->last_hash_ = last->text(1);
    } else {
        // Empty: a new file, or (never by retention itself, which keeps the
        // newest row) one emptied after rows were deleted: go on from the anchor.
        auto anchor = w->db_.prepare("SELECT last_id, last_hash FROM chain_anchor");
        if (!anchor) return unexpected(fmt::format("{}: {}", path, anchor.error()));
        if (anchor->step() == SQLITE_ROW) {
            w->last_id_ = anchor->integer(0);
            w->last_hash_ = anchor->text(1);
        } else {
            w->last_hash_ = genesis_hash;
        }
    }
    // Sessions a previous process left open (it was killed, or crashed) have ended.
    auto orphans = w->db_.prepare(
        "UPDATE sessions SET ended_at = ?, end_reason = 'pgsieve stopped before the session ended', "
        "end_seq = (SELECT coalesce(max(end_seq), 0) FROM sessions) + id WHERE ended_at IS NULL");
    if (!orphans) return unexpected(fmt::format("{}: {}", path, orphans.error()));
    orphans->bind(1, rfc3339(std::chrono::system_clock::now()));
    if (orphans->step() != SQLITE_DONE) return unexpected(fmt::format("{}: {}", path, w->db_.error()));
    auto sessions = w->db_.prepare("SELECT coalesce(max(id), 0) FROM sessions");
    if (!sessions || sessions->step() != SQLITE_ROW) return unexpected(fmt::format("{}: {}", path, w->db_.error()));
    w->max_session_id_ = static_cast<std::uint64_t>(sessions->integer(0));
    return w;
}

expected<void, std::string> writer::prepare_statements() {
    for (const auto sql : prepared_sql) {
        auto s = db_.prepare(sql);
        if (!s) return unexpected(s.error());
        prepared_.push_back(std::move(*s));
    }
    return {};
}

expected<void, std::string> writer::insert(pending& p, bool normalize_sql) {
    sqlite::statement* s = nullptr;
    // Every text column valid for every destination (once: a record retried stays fixed).
    if (!p.enriched) make_valid_text(p.r);
    if (const auto* r = std::get_if<session_started>(&p.r)) {
        s = &prepared_[insert_session];
        s->bind(1, as_int(r->id));
        s->bind(2, rfc3339(r->started_at));
        s->bind(3, r->client);
        s->bind_value(4, text_or_null(r->policy));
        s->bind_value(5, text_or_null(r->client_addr));
        s->bind_value(6, text_or_null(r->application_name));
        s->bind_value(7, text_or_null(r->database));
        s->bind(8, std::int64_t{r->tls ? 1 : 0});
        s->bind_value(9, text_or_null(r->attributes));
    } else if (const auto* r = std::get_if<session_ended>(&p.r)) {
        s = &prepared_[end_session];
        s->bind(1, rfc3339(r->ended_at));
        s->bind_value(2, text_or_null(r->end_reason));
        s->bind(3, as_int(r->id));
    } else if (auto* r = std::get_if<statement>(&p.r)) {
        if (!p.enriched) {
            // Off the sessions' threads.
            p.fingerprint = fingerprint(r->sql);
            p.tags = tags_json(r->sql, r->application_name);
            if (normalize_sql) {
                // A text that cannot be normalized (not SQL, or refused before parsing) is kept as sent.
                if (auto normalized = parser::normalize(r->sql); normalized && !normalized->empty())
                    r->sql = std::move(*normalized);
            }
            p.enriched = true;
        }
        const std::vector<sqlite::value> row{
            last_id_ + 1,
            r->session_id ? sqlite::value(as_int(r->session_id)) : sqlite::value(std::monostate{}),
            rfc3339(r->ts),
            r->client,
            text_or_null(r->policy),
            text_or_null(r->policy_version),
            r->protocol,
            text_or_null(r->statement_name),
            r->sql,
            text_or_null(p.fingerprint),
            std::string(to_string(r->outcome)),
            text_or_null(r->reason),
            text_or_null(r->rule),
            json_array(r->tables),
            json_array(r->columns),
            p.tags,
            text_or_null(r->command_tag),
            as_int(r->rows),
            as_int(r->bytes),
            as_int(r->duration_us),
            text_or_null(r->sqlstate),
            text_or_null(r->error),
            json_array(r->row_scoped),
            masked_json(r->masked),
        };
        std::string hash = chain_hash(last_hash_, row);
        s = &prepared_[insert_statement];
        // `row`, `last_hash_` and `hash` outlive the step: SQLite need not copy them.
        int i = 1;
        for (const auto& v : row) s->bind_value(i++, v, false);
        s->bind(i++, last_hash_, false);
        s->bind(i, hash, false);
        if (s->step() != SQLITE_DONE) {
            std::string why = db_.error();
            s->reset();
            return unexpected(std::move(why));
        }
        s->reset();
        ++last_id_;
        last_hash_ = std::move(hash);
        return {};
    } else if (const auto* r = std::get_if<event>(&p.r)) {
        s = &prepared_[insert_event];
        s->bind(1, rfc3339(r->ts));
        if (r->session_id) s->bind(2, as_int(r->session_id));
        else s->bind_null(2);
        s->bind(3, r->kind);
        s->bind(4, r->detail.empty() ? std::string_view("{}") : std::string_view(r->detail));
    } else if (const auto* r = std::get_if<policy_version>(&p.r)) {
        s = &prepared_[insert_policy];
        s->bind(1, r->version);
        s->bind(2, rfc3339(r->loaded_at));
        s->bind(3, r->source);
    }
    const int rc = s->step();
    s->reset();
    if (rc != SQLITE_DONE) return unexpected(db_.error());
    return {};
}

expected<void, std::string> writer::write(std::vector<pending>& batch, bool normalize_sql) {
    // IMMEDIATE takes the write lock now (waiting up to the busy timeout),
    // rather than failing halfway through the batch.
    if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return r;
    const auto id = last_id_;
    const auto hash = last_hash_;
    auto undo = [&](std::string why) -> expected<void, std::string> {
        (void)db_.exec("ROLLBACK");
        last_id_ = id;
        last_hash_ = hash;
        return unexpected(std::move(why));
    };
    for (auto& p : batch) {
        if (auto r = insert(p, normalize_sql); !r) return undo(r.error());
    }
    if (auto r = db_.exec("COMMIT"); !r) return undo(r.error());
    return {};
}

expected<std::int64_t, std::string> writer::shipped_everywhere(export_source source,
                                                               const std::vector<std::string>& shipped_to) {
    if (shipped_to.empty()) return 0;
    auto q = db_.prepare("SELECT last_id FROM export_cursors WHERE destination = ? AND source = ?");
    if (!q) return unexpected(q.error());
    std::int64_t everywhere = std::numeric_limits<std::int64_t>::max();
    for (const auto& destination : shipped_to) {
        q->bind(1, destination);
        q->bind(2, to_string(source));
        everywhere = std::min(everywhere, q->step() == SQLITE_ROW ? q->integer(0) : 0);
        q->reset();
    }
    return everywhere;
}

expected<std::int64_t, std::string> writer::retain(sys_time cutoff, const std::vector<std::string>& shipped_to,
                                                   std::int64_t limit) {
    const auto statements_shipped = shipped_everywhere(export_source::statements, shipped_to);
    const auto events_shipped = shipped_everywhere(export_source::events, shipped_to);
    if (!statements_shipped || !events_shipped)
        return unexpected(!statements_shipped ? statements_shipped.error() : events_shipped.error());
    const auto before = rfc3339(cutoff);
    // The last statement that may go: old enough, shipped everywhere, not
    // the newest, and no more than `limit` past the oldest.
    auto bound = db_.prepare(
        "SELECT id, hash FROM statements WHERE ts < ?1 AND id <= ?2 AND id < (SELECT max(id) FROM statements) "
        "AND id < (SELECT min(id) FROM statements) + ?3 ORDER BY id DESC LIMIT 1");
    if (!bound) return unexpected(bound.error());
    bound->bind(1, before);
    bound->bind(2, *statements_shipped);
    bound->bind(3, limit);
    std::int64_t deleted = 0;
    if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return unexpected(r.error());
    const auto fail = [&](std::string why) -> expected<std::int64_t, std::string> {
        (void)db_.exec("ROLLBACK");
        return unexpected(std::move(why));
    };
    if (bound->step() == SQLITE_ROW) {
        const auto last = bound->integer(0);
        const auto hash = bound->text(1);
        bound->reset();
        auto anchor = db_.prepare(
            "INSERT INTO chain_anchor (only_row, last_id, last_hash) VALUES (1, ?1, ?2) "
            "ON CONFLICT (only_row) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash");
        auto drop = db_.prepare("DELETE FROM statements WHERE id <= ?");
        if (!anchor || !drop) return fail(db_.error());
        anchor->bind(1, last);
        anchor->bind(2, hash);
        drop->bind(1, last);
        if (anchor->step() != SQLITE_DONE || drop->step() != SQLITE_DONE) return fail(db_.error());
        deleted += sqlite3_changes(db_.handle());
    } else {
        bound->reset();
    }
    // Events and sessions keep their newest row too: SQLite gives the next
    // row max(id) + 1, and an id handed out again would sit behind the
    // export cursors, never shipped.
    auto events = db_.prepare(
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ?1 AND id <= ?2 "
        "AND id < (SELECT max(id) FROM events) ORDER BY id LIMIT ?3)");
    if (!events) return fail(events.error());
    events->bind(1, before);
    events->bind(2, *events_shipped);
    events->bind(3, limit);
    if (events->step() != SQLITE_DONE) return fail(db_.error());
    deleted += sqlite3_changes(db_.handle());
    // A session goes once it ended before the cutoff, its start and its end
    // were shipped everywhere, and no statement left in the file refers to it.
    const auto sessions_shipped = shipped_everywhere(export_source::sessions, shipped_to);
    const auto ends_shipped = shipped_everywhere(export_source::session_ends, shipped_to);
    if (!sessions_shipped || !ends_shipped)
        return fail(!sessions_shipped ? sessions_shipped.error() : ends_shipped.error());
    auto sessions = db_.prepare(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE ended_at < ?1 AND id <= ?2 AND end_seq <= ?3 "
        "AND id < (SELECT max(id) FROM sessions) "
        "AND NOT EXISTS (SELECT 1 FROM statements WHERE session_id = sessions.id) ORDER BY id LIMIT ?4)");
    if (!sessions) return fail(sessions.error());
    sessions->bind(1, before);
    sessions->bind(2, *sessions_shipped);
    sessions->bind(3, *ends_shipped);
    sessions->bind(4, limit);
    if (sessions->step() != SQLITE_DONE) return fail(db_.error());
    deleted += sqlite3_changes(db_.handle());
    if (auto r = db_.exec("COMMIT"); !r) return fail(r.error());
    return deleted;
}

std::string_view to_string(verdict v) {
    switch (v) {
        case verdict::allowed: return "allowed";
        case verdict::blocked: return "blocked";
        case verdict::would_block: return "would_block";
    }
    return "allowed";
}

}  // namespace pgsieve::audit
