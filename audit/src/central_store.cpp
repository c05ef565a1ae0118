// The central PostgreSQL audit store: the same rows as the audit file, from
// every replica, told apart by `instance`, partitioned by day.

#include <pgsieve/audit/export.hpp>
#include <pgsieve/common/log.hpp>
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
// Made by an administrator (`pgsieve audit store-init`), who owns them: a
// replica's role may only call append(), which binds `instance` to the
// calling role, so no replica can update, delete, or write as another.
constexpr std::string_view create_store = R"sql(
CREATE SCHEMA IF NOT EXISTS pgsieve_audit;
REVOKE ALL ON SCHEMA pgsieve_audit FROM PUBLIC;
CREATE TABLE IF NOT EXISTS pgsieve_audit.statements (
    instance text NOT NULL, id bigint NOT NULL, ts timestamptz NOT NULL, session_id bigint, client text,
    policy text, policy_version text, protocol text, statement_name text, sql text, fingerprint text,
    verdict text NOT NULL, reason text, rule text, tables text, columns text, tags text, command_tag text,
    rows bigint, bytes bigint, duration_us bigint, sqlstate text, error text, row_scoped text,
    prev_hash text NOT NULL, hash text NOT NULL,
    PRIMARY KEY (instance, id, ts)
) PARTITION BY RANGE (ts);
-- Audit schema 6's column, added to a store made before it (store-init again).
ALTER TABLE pgsieve_audit.statements ADD COLUMN IF NOT EXISTS masked text;
CREATE TABLE IF NOT EXISTS pgsieve_audit.events (
    instance text NOT NULL, id bigint NOT NULL, ts timestamptz NOT NULL, session_id bigint, kind text NOT NULL,
    detail text NOT NULL,
    PRIMARY KEY (instance, id, ts)
) PARTITION BY RANGE (ts);
-- Rows older than append() makes day partitions for (a replica shipping a
-- backlog): a bounded number of partitions, whatever dates a replica sends.
CREATE TABLE IF NOT EXISTS pgsieve_audit.statements_older PARTITION OF pgsieve_audit.statements DEFAULT;
CREATE TABLE IF NOT EXISTS pgsieve_audit.events_older PARTITION OF pgsieve_audit.events DEFAULT;
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
-- Which role writes as which replica: one each way.
CREATE TABLE IF NOT EXISTS pgsieve_audit.writers (
    role name PRIMARY KEY,
    instance text NOT NULL UNIQUE
);
REVOKE ALL ON ALL TABLES IN SCHEMA pgsieve_audit FROM PUBLIC;

-- The instance the calling role writes as (session_user: unchanged inside
-- the SECURITY DEFINER functions below), or an error for any other role.
CREATE OR REPLACE FUNCTION pgsieve_audit.writer_instance() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $writer$
DECLARE
    me text;
BEGIN
    SELECT w.instance INTO me FROM pgsieve_audit.writers w WHERE w.role = session_user;
    IF me IS NULL THEN
        RAISE EXCEPTION 'role "%" is not a writer of this pgsieve audit store', session_user
            USING ERRCODE = '42501',
                  HINT = 'the store''s owner registers a replica''s role: pgsieve audit store-init --writer ROLE=INSTANCE';
    END IF;
    RETURN me;
END
$writer$;
REVOKE ALL ON FUNCTION pgsieve_audit.writer_instance() FROM PUBLIC;

-- The only way in for a replica. SECURITY DEFINER: it runs as the owner, with
-- a search_path nothing else can put objects on.
CREATE OR REPLACE FUNCTION pgsieve_audit.append(stream text, records jsonb) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $append$
DECLARE
    me text := pgsieve_audit.writer_instance();
    day date;
    today date := (now() AT TIME ZONE 'UTC')::date;
    stored bigint;
BEGIN
    IF jsonb_typeof(records) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'append() takes a JSON array of rows' USING ERRCODE = '22023';
    END IF;
    IF stream IN ('statements', 'events') THEN
        FOR day IN SELECT DISTINCT ((e ->> 'ts')::timestamptz AT TIME ZONE 'UTC')::date
                   FROM jsonb_array_elements(records) e LOOP
            IF day IS NULL OR day > today + 1 THEN
                RAISE EXCEPTION 'a % row dated % is not a row pgsieve wrote', stream, day USING ERRCODE = '22023';
            END IF;
            IF day >= today - 400 THEN
                EXECUTE format('CREATE TABLE IF NOT EXISTS pgsieve_audit.%I PARTITION OF pgsieve_audit.%I '
                               'FOR VALUES FROM (%L) TO (%L)', stream || '_' || to_char(day, 'YYYYMMDD'), stream,
                               day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
            END IF;
        END LOOP;
    END IF;
    -- The caller's instance replaces whatever a row names.
    CASE stream
    WHEN 'statements' THEN
        INSERT INTO pgsieve_audit.statements SELECT r.* FROM jsonb_array_elements(records) e,
            jsonb_populate_record(NULL::pgsieve_audit.statements, e || jsonb_build_object('instance', me)) r
        ON CONFLICT DO NOTHING;
    WHEN 'events' THEN
        INSERT INTO pgsieve_audit.events SELECT r.* FROM jsonb_array_elements(records) e,
            jsonb_populate_record(NULL::pgsieve_audit.events, e || jsonb_build_object('instance', me)) r
        ON CONFLICT DO NOTHING;
    WHEN 'policy_versions' THEN
        INSERT INTO pgsieve_audit.policy_versions SELECT r.* FROM jsonb_array_elements(records) e,
            jsonb_populate_record(NULL::pgsieve_audit.policy_versions, e || jsonb_build_object('instance', me)) r
        ON CONFLICT DO NOTHING;
    -- A session's end may arrive before its start (the streams ship batch by
    -- batch): either brings the whole row. An end is recorded once.
    WHEN 'sessions' THEN
        INSERT INTO pgsieve_audit.sessions SELECT r.* FROM jsonb_array_elements(records) e,
            jsonb_populate_record(NULL::pgsieve_audit.sessions, e || jsonb_build_object('instance', me)) r
        ON CONFLICT DO NOTHING;
    WHEN 'session_ends' THEN
        INSERT INTO pgsieve_audit.sessions AS s SELECT r.* FROM jsonb_array_elements(records) e,
            jsonb_populate_record(NULL::pgsieve_audit.sessions, e || jsonb_build_object('instance', me)) r
        ON CONFLICT (instance, id) DO UPDATE SET ended_at = excluded.ended_at, end_reason = excluded.end_reason
            WHERE s.ended_at IS NULL;
    ELSE
        RAISE EXCEPTION 'no audit stream is called "%"', stream USING ERRCODE = '22023';
    END CASE;
    GET DIAGNOSTICS stored = ROW_COUNT;
    RETURN stored;
END
$append$;

-- The caller's instance and its newest statement (id, chain hash), for a
-- replica to check that its file continues what the store holds.
CREATE OR REPLACE FUNCTION pgsieve_audit.newest_statement(OUT instance text, OUT id bigint, OUT hash text)
RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $newest$
    SELECT w.instance, s.id, s.hash FROM pgsieve_audit.writers w
    LEFT JOIN LATERAL (SELECT s.id, s.hash FROM pgsieve_audit.statements s WHERE s.instance = w.instance
                       ORDER BY s.id DESC LIMIT 1) s ON true
    WHERE w.role = session_user
$newest$;
REVOKE ALL ON FUNCTION pgsieve_audit.append(text, jsonb), pgsieve_audit.newest_statement() FROM PUBLIC;

-- Writes held for approval, fleet-wide (DESIGN.md §3): a ticket a replica
-- opened, a person's decision and the ticket's one use are appended rows,
-- read by every replica in `seq` order. Each happens at most once per ticket.
CREATE TABLE IF NOT EXISTS pgsieve_audit.approvals (
    seq bigserial PRIMARY KEY,
    ticket text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('requested', 'approved', 'rejected', 'used')),
    instance text,      -- the replica that opened or used it
    decided_by name,    -- the role of the person who decided it
    detail jsonb NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON pgsieve_audit.approvals FROM PUBLIC;
CREATE UNIQUE INDEX IF NOT EXISTS approvals_requested ON pgsieve_audit.approvals (ticket) WHERE kind = 'requested';
CREATE UNIQUE INDEX IF NOT EXISTS approvals_decided ON pgsieve_audit.approvals (ticket)
    WHERE kind IN ('approved', 'rejected');
CREATE UNIQUE INDEX IF NOT EXISTS approvals_used ON pgsieve_audit.approvals (ticket) WHERE kind = 'used';

-- A replica opens a ticket (as its own instance).
CREATE OR REPLACE FUNCTION pgsieve_audit.request_approval(ticket text, detail jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $request$
BEGIN
    INSERT INTO pgsieve_audit.approvals (ticket, kind, instance, detail)
    VALUES (ticket, 'requested', pgsieve_audit.writer_instance(), detail);
END
$request$;

-- A replica claims an approved ticket's one use before it commits the
-- write: NULL when this call took it, else why not. The unique index makes
-- two replicas' claims of one ticket take it once.
CREATE OR REPLACE FUNCTION pgsieve_audit.claim_approval(claimed text, changed bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $claim$
DECLARE
    me text := pgsieve_audit.writer_instance();
    asked record;
    decided record;
    taken int;
BEGIN
    SELECT * INTO asked FROM pgsieve_audit.approvals a WHERE a.ticket = claimed AND a.kind = 'requested';
    SELECT * INTO decided FROM pgsieve_audit.approvals a WHERE a.ticket = claimed AND a.kind IN ('approved', 'rejected');
    IF asked IS NULL OR decided IS NULL OR decided.kind <> 'approved' THEN
        RETURN 'the central store has no approval of it';
    END IF;
    IF decided.at + make_interval(secs => (asked.detail ->> 'timeout_ms')::bigint / 1000.0) < now() THEN
        RETURN 'its approval expired';
    END IF;
    INSERT INTO pgsieve_audit.approvals (ticket, kind, instance, detail)
    VALUES (claimed, 'used', me, jsonb_build_object('rows', changed)) ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS taken = ROW_COUNT;
    IF taken = 0 THEN
        RETURN 'it was used already, through instance ' ||
               (SELECT a.instance FROM pgsieve_audit.approvals a WHERE a.ticket = claimed AND a.kind = 'used');
    END IF;
    RETURN NULL;
END
$claim$;

-- What a replica reads: every row after `after`, in order, with the fields
-- of its detail it needs as columns (times in Unix milliseconds).
CREATE OR REPLACE FUNCTION pgsieve_audit.approvals_since(after bigint)
RETURNS TABLE (seq bigint, ticket text, kind text, instance text, decided_by name, at_ms bigint, reason text,
               client text, policy text, grants_version text, sql text, bind_parameters text, table_name text,
               command text, rows bigint, timeout_ms bigint, expires_ms bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $since$
    SELECT a.seq, a.ticket, a.kind, a.instance, a.decided_by, (extract(epoch FROM a.at) * 1000)::bigint,
           a.detail ->> 'reason', a.detail ->> 'client', a.detail ->> 'policy', a.detail ->> 'grants_version',
           a.detail ->> 'sql', a.detail ->> 'bind_parameters', a.detail ->> 'table', a.detail ->> 'command',
           (a.detail ->> 'rows')::bigint, (a.detail ->> 'timeout_ms')::bigint,
           (extract(epoch FROM (a.detail ->> 'expires_at')::timestamptz) * 1000)::bigint
    FROM pgsieve_audit.approvals a
    -- A ticket is decided and used within its timeout (at most 7 days):
    -- older rows are history, not work; a replica starting afresh skips them.
    WHERE a.seq > after AND a.at > now() - interval '8 days'
      AND EXISTS (SELECT FROM pgsieve_audit.writers w WHERE w.role = session_user)
    ORDER BY a.seq LIMIT 1000
$since$;

-- A person's decision, as the role they logged in with (`pgsieve approve`).
CREATE OR REPLACE FUNCTION pgsieve_audit.decide_approval(decided text, approve boolean, reason text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $decide$
DECLARE
    asked record;
BEGIN
    SELECT * INTO asked FROM pgsieve_audit.approvals a WHERE a.ticket = decided AND a.kind = 'requested';
    IF asked IS NULL THEN
        RAISE EXCEPTION 'no ticket % in the central store', decided USING ERRCODE = '22023';
    END IF;
    IF (asked.detail ->> 'expires_at')::timestamptz <= now() THEN
        RAISE EXCEPTION 'ticket % expired; the client must send the statement again for a new ticket', decided
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO pgsieve_audit.approvals (ticket, kind, decided_by, detail)
    VALUES (decided, CASE WHEN approve THEN 'approved' ELSE 'rejected' END, session_user,
            jsonb_build_object('reason', reason));
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'ticket % was decided already', decided USING ERRCODE = '23505';
END
$decide$;
REVOKE ALL ON FUNCTION pgsieve_audit.request_approval(text, jsonb), pgsieve_audit.claim_approval(text, bigint),
    pgsieve_audit.approvals_since(bigint), pgsieve_audit.decide_approval(text, boolean, text) FROM PUBLIC;
)sql";

}  // namespace

std::string central_store_init_sql(const std::vector<store_writer>& writers, const std::vector<std::string>& readers,
                                  const std::vector<std::string>& approvers) {
    std::string sql = "BEGIN;\n" + std::string(create_store);
    for (const auto& w : writers) {
        const auto role = quote_literal(w.role), instance = quote_literal(w.instance);
        // A writer that could do more than append would make the store no
        // better than the file: not a superuser, not the owner running this.
        sql += fmt::format(R"sql(
DO $writer$
DECLARE
    bound text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {0}) THEN
        RAISE EXCEPTION 'role "%" does not exist: create it (CREATE ROLE … LOGIN PASSWORD …) first', {0};
    END IF;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = {0}) OR {0} = current_user THEN
        RAISE EXCEPTION 'role "%" can do more than append (a superuser, or the store''s owner): give each replica a role of its own', {0};
    END IF;
    SELECT w.instance INTO bound FROM pgsieve_audit.writers w WHERE w.role = {0};
    IF bound IS NOT NULL AND bound <> {1} THEN
        RAISE EXCEPTION 'role "%" already writes as instance "%"', {0}, bound;
    END IF;
    SELECT w.role INTO bound FROM pgsieve_audit.writers w WHERE w.instance = {1};
    IF bound IS NOT NULL AND bound <> {0} THEN
        RAISE EXCEPTION 'instance "%" is already written by role "%"', {1}, bound;
    END IF;
    INSERT INTO pgsieve_audit.writers VALUES ({0}, {1}) ON CONFLICT DO NOTHING;
END
$writer$;
GRANT USAGE ON SCHEMA pgsieve_audit TO {2};
GRANT EXECUTE ON FUNCTION pgsieve_audit.append(text, jsonb), pgsieve_audit.newest_statement(),
    pgsieve_audit.request_approval(text, jsonb), pgsieve_audit.claim_approval(text, bigint),
    pgsieve_audit.approvals_since(bigint) TO {2};
)sql",
                           role, instance, sql_identifier(w.role));
    }
    for (const auto& a : approvers) {
        // A person who decides held writes: reads the tickets, appends decisions as itself.
        sql += fmt::format("GRANT USAGE ON SCHEMA pgsieve_audit TO {0};\n"
                           "GRANT SELECT ON pgsieve_audit.approvals TO {0};\n"
                           "GRANT EXECUTE ON FUNCTION pgsieve_audit.decide_approval(text, boolean, text) TO {0};\n",
                           sql_identifier(a));
    }
    for (const auto& r : readers) {
        sql += fmt::format("GRANT USAGE ON SCHEMA pgsieve_audit TO {0};\n"
                           "GRANT SELECT ON ALL TABLES IN SCHEMA pgsieve_audit TO {0};\n",
                           sql_identifier(r));
    }
    return sql + "COMMIT;\n";
}

std::string central_store_sql(std::span<const shipped_record> records) {
    if (records.empty()) return {};
    std::string rows = "[";
    for (const auto& r : records) {
        if (rows.size() > 1) rows += ',';
        rows += '{';
        bool first = true;
        for (const auto& [column, value] : r.row) {
            if (!first) rows += ',';
            first = false;
            log::append_json_string(rows, column);
            rows += ':';
            if (const auto* n = std::get_if<std::int64_t>(&value)) rows += std::to_string(*n);
            else log::append_json_string(rows, std::get<std::string>(value));
        }
        rows += '}';
    }
    rows += ']';
    return fmt::format("SELECT pgsieve_audit.append({}, {}::jsonb)", quote_literal(to_string(records.front().source)),
                       quote_literal(rows));
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
    "masked, prev_hash, hash";
constexpr int statement_integer_columns[] = {0, 2, 17, 18, 19};  // id, session_id, rows, bytes, duration_us
constexpr std::string_view session_columns =
    "id, {started_at}, {ended_at}, client, policy, client_addr, application_name, database, tls, end_reason, "
    "attributes";
constexpr int session_integer_columns[] = {0, 8};  // id, tls

}  // namespace

std::vector<std::string> central_store_open(std::string_view instance_id) {
    const auto instance = quote_literal(instance_id);
    // One snapshot for every table and page; cursors in id order, so each
    // page continues where the last stopped, read once.
    return {"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            fmt::format("DECLARE pgsieve_statements NO SCROLL CURSOR FOR SELECT {} FROM pgsieve_audit.statements "
                        "WHERE instance = {} ORDER BY id",
                        fmt::format(fmt::runtime(statement_columns), fmt::arg("ts", as_written("ts"))), instance),
            fmt::format("DECLARE pgsieve_events NO SCROLL CURSOR FOR SELECT id, {}, session_id, kind, detail "
                        "FROM pgsieve_audit.events WHERE instance = {} ORDER BY id",
                        as_written("ts"), instance),
            fmt::format("DECLARE pgsieve_sessions NO SCROLL CURSOR FOR SELECT {} FROM pgsieve_audit.sessions "
                        "WHERE instance = {} ORDER BY id",
                        fmt::format(fmt::runtime(session_columns), fmt::arg("started_at", as_written("started_at")),
                                    fmt::arg("ended_at", as_written("ended_at"))),
                        instance)};
}

std::vector<std::string> central_store_page(std::string_view instance_id, bool first, std::size_t limit) {
    return {fmt::format("FETCH {} FROM pgsieve_statements", limit), fmt::format("FETCH {} FROM pgsieve_events", limit),
            fmt::format("FETCH {} FROM pgsieve_sessions", limit),
            // A handful of rows: with the first page only.
            fmt::format("SELECT version, {}, source FROM pgsieve_audit.policy_versions WHERE instance = {} {} "
                        "ORDER BY loaded_at",
                        as_written("loaded_at"), quote_literal(instance_id), first ? "" : "AND false")};
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
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
