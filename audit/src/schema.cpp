#include "schema.hpp"

#include <set>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace pgsieve::audit {

namespace {

// A new file gets schema 2, then the migrations after it (below), as an
// older file does: each table is written down once.
constexpr const char* create_schema_2 = R"sql(
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    client TEXT NOT NULL,
    policy TEXT,
    client_addr TEXT,
    application_name TEXT,
    database TEXT,
    tls INTEGER NOT NULL,
    end_reason TEXT,
    attributes TEXT
);
CREATE TABLE statements (
    id INTEGER PRIMARY KEY,
    session_id INTEGER,
    ts TEXT NOT NULL,
    client TEXT,
    policy TEXT,
    policy_version TEXT,
    protocol TEXT NOT NULL,
    statement_name TEXT,
    sql TEXT,
    fingerprint TEXT,
    verdict TEXT NOT NULL,
    reason TEXT,
    rule TEXT,
    tables TEXT NOT NULL,
    columns TEXT NOT NULL,
    tags TEXT NOT NULL,
    command_tag TEXT,
    rows INTEGER,
    bytes INTEGER,
    duration_us INTEGER,
    sqlstate TEXT,
    error TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    row_scoped TEXT
);
-- Each index costs every insert: the ones the review commands need, and
-- refusals (what an incident review asks first) indexed on their own.
CREATE INDEX statements_ts ON statements (ts);
CREATE INDEX statements_client_ts ON statements (client, ts);
CREATE INDEX statements_refused_ts ON statements (ts) WHERE verdict <> 'allowed';
CREATE INDEX statements_session ON statements (session_id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    session_id INTEGER,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_kind_ts ON events (kind, ts);
CREATE TABLE policy_versions (
    version TEXT PRIMARY KEY,
    loaded_at TEXT NOT NULL,
    source TEXT NOT NULL
);
PRAGMA user_version = 2;
)sql";

// Schema 2: the client's bound attributes on sessions, and the row-scoped
// tables a statement reads (in the hash chain; NULL in rows written before).
constexpr const char* migrate_1_to_2 = R"sql(
ALTER TABLE sessions ADD COLUMN attributes TEXT;
ALTER TABLE statements ADD COLUMN row_scoped TEXT;
PRAGMA user_version = 2;
)sql";

// Schema 3: how far each export destination has shipped each table (rows
// up to last_id were acknowledged), and the chain's anchor once retention
// has deleted its oldest rows (the id and hash of the last row deleted).
constexpr const char* migrate_2_to_3 = R"sql(
CREATE TABLE export_cursors (
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (destination, source)
);
CREATE TABLE chain_anchor (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    last_id INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
PRAGMA user_version = 3;
)sql";

// Schema 4: the order sessions ended in, by which the end of a session is
// shipped (export.hpp: session_ends). Sessions that had ended take their id.
constexpr const char* migrate_3_to_4 = R"sql(
ALTER TABLE sessions ADD COLUMN end_seq INTEGER;
UPDATE sessions SET end_seq = id WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_end_seq ON sessions (end_seq);
PRAGMA user_version = 4;
)sql";

// Schema 5: decisions on writes held for approval, written by `pgsieve
// approve` (one per ticket; the ticket itself is an approval_requested
// event) and read back by the server.
constexpr const char* migrate_4_to_5 = R"sql(
CREATE TABLE approval_decisions (
    id INTEGER PRIMARY KEY,
    ticket TEXT NOT NULL UNIQUE,
    decision TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    reason TEXT,
    decided_by TEXT,
    decided_at TEXT NOT NULL
);
PRAGMA user_version = 5;
)sql";

// Schema 6: which output columns of a statement's result were masked and how
// (in the hash chain; NULL when none was, as in every row written before).
constexpr const char* migrate_5_to_6 = R"sql(
ALTER TABLE statements ADD COLUMN masked TEXT;
PRAGMA user_version = 6;
)sql";

expected<int, std::string> user_version(sqlite::database& db, std::string_view schema = "main") {
    auto s = db.prepare(fmt::format("PRAGMA \"{}\".user_version", schema));
    if (!s) return unexpected(s.error());
    if (s->step() != SQLITE_ROW) return unexpected(db.error());
    return static_cast<int>(s->integer(0));
}

expected<bool, std::string> has_tables(sqlite::database& db) {
    auto s = db.prepare("SELECT count(*) FROM sqlite_master");
    if (!s) return unexpected(s.error());
    if (s->step() != SQLITE_ROW) return unexpected(db.error());
    return s->integer(0) > 0;
}

}  // namespace

expected<void, std::string> check_schema(sqlite::database& db, std::string_view schema) {
    const auto version = user_version(db, schema);
    if (!version) return unexpected(version.error());
    if (*version > schema_version)
        return unexpected(fmt::format("written by a newer pgsieve (audit schema {}; this build knows {})", *version,
                                      schema_version));
    if (*version < 1) return unexpected(std::string("not a pgsieve audit log (no audit schema version)"));
    return {};
}

expected<void, std::string> ensure_schema(sqlite::database& db) {
    // A new file gets 32 KiB pages: a batch of statements dirties a few
    // pages instead of dozens, and SQLite writes each dirty page of a commit
    // with its own pwrite (two: frame header and page). No effect on a file
    // that has tables already.
    if (auto r = db.exec("PRAGMA page_size = 32768"); !r) return r;
    if (auto r = db.exec("PRAGMA journal_mode = WAL"); !r) return r;
    // WAL + NORMAL: a commit is durable against a process crash; an OS crash
    // may lose the last batches, never corrupt the file.
    if (auto r = db.exec("PRAGMA synchronous = NORMAL"); !r) return r;
    const auto version = user_version(db);
    if (!version) return unexpected(version.error());
    const auto in_transaction = [&db](const char* sql) -> expected<void, std::string> {
        if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r;
        if (auto r = db.exec(sql); !r) {
            (void)db.exec("ROLLBACK");
            return r;
        }
        return db.exec("COMMIT");
    };
    if (*version == 0) {
        const auto tables = has_tables(db);
        if (!tables) return unexpected(tables.error());
        if (*tables) return unexpected(std::string("not a pgsieve audit log (it has other tables)"));
        if (auto r = in_transaction(create_schema_2); !r) return r;
    }
    if (*version == 1) {
        if (auto r = in_transaction(migrate_1_to_2); !r) return unexpected("migrating audit schema 1 to 2: " + r.error());
    }
    if (*version <= 2) {
        if (auto r = in_transaction(migrate_2_to_3); !r) return unexpected("migrating audit schema 2 to 3: " + r.error());
    }
    if (*version <= 3) {
        if (auto r = in_transaction(migrate_3_to_4); !r) return unexpected("migrating audit schema 3 to 4: " + r.error());
    }
    if (*version <= 4) {
        if (auto r = in_transaction(migrate_4_to_5); !r) return unexpected("migrating audit schema 4 to 5: " + r.error());
    }
    if (*version <= 5) {
        if (auto r = in_transaction(migrate_5_to_6); !r) return unexpected("migrating audit schema 5 to 6: " + r.error());
    }
    return check_schema(db);
}

bool known_column(std::string_view table, std::string_view column) {
    // Read from the schema itself, made once in memory: one place for the names.
    static const auto known = [] {
        std::set<std::pair<std::string, std::string>> out;
        auto db = sqlite::database::open(":memory:", false);
        if (!db || !ensure_schema(*db)) return out;
        auto s = db->prepare("SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p "
                             "WHERE m.type = 'table'");
        if (!s) return out;
        while (s->step() == SQLITE_ROW) out.emplace(s->text(0), s->text(1));
        return out;
    }();
    return known.contains({std::string(table), std::string(column)});
}

std::string chain_hash(std::string_view prev_hash, const std::vector<sqlite::value>& row) {
    std::string canonical(prev_hash);
    // Columns added to the chain since schema 1 (row_scoped, masked) are
    // hashed only up to the last one that is not NULL: a row written before
    // one existed, or with nothing in it, hashes as it did without it.
    std::size_t count = row.size();
    for (std::size_t added = 0; added < chained_columns_added && count > 0 &&
                                std::holds_alternative<std::monostate>(row[count - 1]);
         ++added)
        --count;
    for (std::size_t i = 0; i < count; ++i) {
        const auto& v = row[i];
        if (const auto* n = std::get_if<std::int64_t>(&v)) {
            fmt::format_to(std::back_inserter(canonical), "I{};", *n);
        } else if (const auto* s = std::get_if<std::string>(&v)) {
            fmt::format_to(std::back_inserter(canonical), "T{}:", s->size());
            canonical += *s;
        } else {
            canonical += "N;";
        }
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(canonical.data(), canonical.size(), digest, &length, EVP_sha256(), nullptr);
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex(length * 2, '0');
    for (unsigned int i = 0; i < length; ++i) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 0xF];
    }
    return hex;
}

}  // namespace pgsieve::audit
