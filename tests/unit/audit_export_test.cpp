// Shipping the audit off the machine, without sockets: the export reader's
// streams and cursors, the OTLP encoding, the central store's SQL and its
// rows read back, retention, and several logs reviewed as one.

#include "audit_support.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/sink.hpp>

#include <thread>

using namespace pgsieve;
using namespace pgsieve::test;

namespace {

// A sink that deletes, as soon as it may, what every one of `shipped_to` acknowledged.
std::unique_ptr<audit::sink> retaining_sink(const std::string& file, std::vector<std::string> shipped_to) {
    audit::sink_options o;
    o.path = file;
    o.flush_interval = std::chrono::milliseconds(5);
    o.retention = std::chrono::milliseconds(1);
    o.shipped_to = std::move(shipped_to);
    auto sink = audit::sink::open(o);
    REQUIRE(sink);
    return std::move(*sink);
}

// Waits (up to 2 s) until `sql` on the file answers `value` in its first row.
void wait_for_value(const std::string& file, const std::string& sql, const std::string& value) {
    for (int waited = 0; waited < 100 && sqlite_column(file, sql)[0] != value; ++waited)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

TEST_CASE("audit export: rows after the cursor, in id order; the cursor survives a reopen", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        for (int i = 0; i < 5; ++i) sink->submit(statement_record("SELECT " + std::to_string(i)));
        auto traced = statement_record("SELECT 5 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/");
        sink->submit(traced);
        sink->submit(audit::event{std::chrono::system_clock::now(), 0, "login_failed", "{}"});
    }
    {
        auto reader = audit::export_reader::open(file, "otlp test");
        REQUIRE(reader);
        auto first = (*reader)->next(audit::export_source::statements, 4);
        REQUIRE(first);
        REQUIRE(first->size() == 4);
        CHECK(first->front().id == 1);
        CHECK(first->front().body == "SELECT 0");
        CHECK(first->front().hash.size() == 64);
        REQUIRE((*reader)->advance(audit::export_source::statements, first->back().id));
        auto events = (*reader)->next(audit::export_source::events, 10);
        REQUIRE(events);
        CHECK(events->size() == 1);
    }
    auto reader = audit::export_reader::open(file, "otlp test");
    REQUIRE(reader);
    CHECK((*reader)->cursor(audit::export_source::statements) == 4);
    const auto rest = (*reader)->next(audit::export_source::statements, 100);
    REQUIRE(rest);
    REQUIRE(rest->size() == 2);
    CHECK(rest->back().trace_id.size() == 16);
    CHECK(rest->back().span_id == std::string("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
    // Another destination has its own cursor.
    auto other = audit::export_reader::open(file, "otlp elsewhere");
    REQUIRE(other);
    CHECK((*other)->cursor(audit::export_source::statements) == 0);
}

TEST_CASE("audit export: an OTLP request encodes lengths and integers as protobuf does", "[audit]") {
    audit::shipped_record r;
    r.id = 300;  // a two-byte varint
    r.body = std::string(200, 'x');  // a two-byte length
    r.attributes.emplace_back("pgsieve.rows", std::int64_t{-1});  // ten-byte varint (two's complement)
    const auto bytes = audit::encode_otlp_logs(std::vector{r}, "replica-a");
    // ExportLogsServiceRequest.resource_logs: field 1, length-delimited.
    REQUIRE(bytes.size() > 260);
    CHECK(static_cast<unsigned char>(bytes[0]) == 0x0a);
    CHECK(bytes.find(std::string(200, 'x')) != std::string::npos);
    CHECK(bytes.find(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10)) != std::string::npos);
    CHECK(bytes.find("replica-a/statements/300") != std::string::npos);
}

TEST_CASE("audit export: a batch reaches the central store as one append() of JSON rows, naming no instance",
          "[audit]") {
    // The store binds the instance to the calling role (tested against a real
    // PostgreSQL in test_audit_export); the statement only carries the rows.
    audit::shipped_record r;
    r.source = audit::export_source::statements;
    r.id = 7;
    r.row = {{"id", std::int64_t{7}}, {"ts", std::string("2026-12-31T23:59:59.999999Z")},
             {"sql", std::string("SELECT 'x' \\ \"q\"")}};
    auto second = r;
    second.row[0].second = std::int64_t{8};
    const auto sql = audit::central_store_sql(std::vector{r, second});
    CHECK(sql == R"(SELECT pgsieve_audit.append('statements', E'[{"id":7,"ts":"2026-12-31T23:59:59.999999Z",)"
                 R"("sql":"SELECT ''x'' \\\\ \\"q\\""},{"id":8,"ts":"2026-12-31T23:59:59.999999Z",)"
                 R"("sql":"SELECT ''x'' \\\\ \\"q\\""}]'::jsonb))");
    CHECK(sql.find("replica") == std::string::npos);
    r.source = audit::export_source::session_ends;
    CHECK(audit::central_store_sql(std::vector{r}).starts_with("SELECT pgsieve_audit.append('session_ends', "));
}

TEST_CASE("audit store-init: writers are registered one role to one instance and granted only the functions",
          "[audit]") {
    const auto sql = audit::central_store_init_sql({{"writer_a", "replica-a"}}, {"Reviewers"}, {"ops_lead"});
    CHECK(sql.starts_with("BEGIN;\n"));
    CHECK(sql.ends_with("COMMIT;\n"));
    CHECK(sql.find("INSERT INTO pgsieve_audit.writers VALUES ('writer_a', 'replica-a')") != std::string::npos);
    CHECK(sql.find("GRANT EXECUTE ON FUNCTION pgsieve_audit.append(text, jsonb), pgsieve_audit.newest_statement(),\n"
                   "    pgsieve_audit.request_approval(text, jsonb), pgsieve_audit.claim_approval(text, bigint),\n"
                   "    pgsieve_audit.approvals_since(bigint) TO \"writer_a\";") != std::string::npos);
    // A replica cannot decide an approval: only an approver can, as itself.
    CHECK(sql.find("pgsieve_audit.decide_approval(text, boolean, text) TO \"writer_a\"") == std::string::npos);
    CHECK(sql.find("GRANT EXECUTE ON FUNCTION pgsieve_audit.decide_approval(text, boolean, text) TO \"ops_lead\";") !=
          std::string::npos);
    CHECK(sql.find("GRANT SELECT ON pgsieve_audit.approvals TO \"ops_lead\";") != std::string::npos);
    CHECK(sql.find("GRANT SELECT ON ALL TABLES IN SCHEMA pgsieve_audit TO \"Reviewers\";") != std::string::npos);
    // Nothing but the functions for a writer: no table privilege is granted to it.
    CHECK(sql.find("ON ALL TABLES IN SCHEMA pgsieve_audit TO \"writer_a\"") == std::string::npos);
    CHECK(sql.find("SECURITY DEFINER SET search_path = pg_catalog, pg_temp") != std::string::npos);
}

TEST_CASE("audit retention: old rows every destination acknowledged leave the file; the chain verifies from its anchor",
          "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        for (int i = 0; i < 10; ++i) sink->submit(statement_record("SELECT " + std::to_string(i)));
    }
    {
        auto reader = audit::export_reader::open(file, "otlp a");
        REQUIRE(reader);
        REQUIRE((*reader)->advance(audit::export_source::statements, 6));
        auto other = audit::export_reader::open(file, "postgresql b");
        REQUIRE(other);
        REQUIRE((*other)->advance(audit::export_source::statements, 8));
    }
    {
        auto sink = retaining_sink(file, {"otlp a", "postgresql b"});
        // Rows 1..6 went to both destinations: they go; 7..10 stay.
        wait_for_value(file, "SELECT min(id) FROM statements", "7");
        CHECK(sqlite_column(file, "SELECT min(id) FROM statements") == std::vector<std::string>{"7"});
        sink->submit(statement_record("SELECT 'after retention'"));
    }
    CHECK(sqlite_column(file, "SELECT last_id FROM chain_anchor") == std::vector<std::string>{"6"});
    auto review = audit::review::open(file);
    REQUIRE(review);
    auto verified = review->verify();
    REQUIRE(verified);
    CHECK_FALSE(verified->first_bad_id);
    CHECK(verified->checked == 5);

    // Attack: delete the rows right after the anchor — the chain names it.
    sqlite_column(file, "DELETE FROM statements WHERE id = 7");
    auto tampered = audit::review::open(file);
    REQUIRE(tampered);
    verified = tampered->verify();
    REQUIRE(verified);
    CHECK(verified->first_bad_id == 8);
}

TEST_CASE("audit retention: the newest row stays, so ids and the chain go on after a restart", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        for (int i = 0; i < 3; ++i) sink->submit(statement_record("SELECT " + std::to_string(i)));
    }
    {
        auto reader = audit::export_reader::open(file, "otlp a");
        REQUIRE(reader);
        REQUIRE((*reader)->advance(audit::export_source::statements, 3));
    }
    {
        auto sink = retaining_sink(file, {"otlp a"});
        wait_for_value(file, "SELECT count(*) FROM statements", "1");
    }
    CHECK(sqlite_column(file, "SELECT id FROM statements") == std::vector<std::string>{"3"});
    {
        auto sink = open_sink(file);
        sink->submit(statement_record("SELECT 'next'"));
    }
    CHECK(sqlite_column(file, "SELECT id FROM statements ORDER BY id") == std::vector<std::string>{"3", "4"});
    auto review = audit::review::open(file);
    REQUIRE(review);
    const auto verified = review->verify();
    REQUIRE(verified);
    CHECK_FALSE(verified->first_bad_id);
}

namespace {

audit::session_started session(std::uint64_t id, std::string client) {
    return audit::session_started{id,  std::chrono::system_clock::now(), std::move(client), "reader", "127.0.0.1",
                                  "mcp", "shop",                          false,             ""};
}

std::vector<std::string> bodies(const std::vector<audit::shipped_record>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.body + " " + std::to_string(r.id));
    return out;
}

}  // namespace

TEST_CASE("audit export: a session ships when it starts and again when it ends; policy text leaves without verifiers",
          "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    const std::string verifier =
        "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVrZXk=:c2VydmVya2V5c2VydmVya2V5c2VydmVy";
    {
        auto sink = open_sink(file);
        sink->submit(audit::policy_version{"v1", std::chrono::system_clock::now(),
                                           "clients:\n  - name: cs_bot\n    password: \"" + verifier + "\"\n"});
        sink->submit(session(1, "cs_bot"));
        sink->submit(session(2, "ops_bot"));
        sink->submit(audit::session_ended{2, std::chrono::system_clock::now(), "client closed"});
    }
    auto reader = audit::export_reader::open(file, "store");
    REQUIRE(reader);
    auto policies = (*reader)->next(audit::export_source::policy_versions, 10);
    REQUIRE(policies);
    REQUIRE(policies->size() == 1);
    const auto& text = std::get<std::string>(policies->front().row.back().second);
    CHECK(text.find("SCRAM-SHA-256$<redacted>\"") != std::string::npos);
    CHECK(text.find("c3RvcmVka2V5") == std::string::npos);
    auto started = (*reader)->next(audit::export_source::sessions, 10);
    REQUIRE(started);
    CHECK(bodies(*started) == std::vector<std::string>{"session_started 1", "session_started 2"});
    auto ended = (*reader)->next(audit::export_source::session_ends, 10);
    REQUIRE(ended);
    REQUIRE(bodies(*ended) == std::vector<std::string>{"session_ended 1"});  // end_seq 1: session 2's end
    CHECK(std::find(ended->front().row.begin(), ended->front().row.end(),
                    std::pair<std::string, audit::shipped_record::value>{"id", std::int64_t{2}}) !=
          ended->front().row.end());
    REQUIRE((*reader)->advance(audit::export_source::session_ends, 1));
    {
        auto sink = open_sink(file);
        sink->submit(audit::session_ended{1, std::chrono::system_clock::now(), "client closed"});
    }
    ended = (*reader)->next(audit::export_source::session_ends, 10);
    REQUIRE(ended);
    CHECK(bodies(*ended) == std::vector<std::string>{"session_ended 2"});
}

TEST_CASE("audit export: sessions a killed pgsieve left open end at its next start, and are shipped as ended",
          "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        sink->submit(session(1, "cs_bot"));
        sink->submit(session(2, "cs_bot"));
        sink->submit(audit::session_ended{1, std::chrono::system_clock::now(), "client closed"});
    }
    // Session 2 never ended: as after a SIGKILL.
    CHECK(sqlite_column(file, "SELECT count(*) FROM sessions WHERE ended_at IS NULL") == std::vector<std::string>{"1"});
    { auto sink = open_sink(file); }
    CHECK(sqlite_column(file, "SELECT end_reason FROM sessions WHERE id = 2") ==
          std::vector<std::string>{"pgsieve stopped before the session ended"});
    auto reader = audit::export_reader::open(file, "store");
    REQUIRE(reader);
    auto ended = (*reader)->next(audit::export_source::session_ends, 10);
    REQUIRE(ended);
    CHECK(ended->size() == 2);
}

TEST_CASE("audit review: the central store's rows, read back, give show its session and policy text", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("store.db");
    using row = audit::text_row;
    const std::string hash(64, 'a');
    const std::vector<std::vector<row>> tables{
        {row{"1", "2026-11-25T10:00:01.000000Z", "4", "cs_bot", "reader", "v1", "simple", std::nullopt, "SELECT 1",
             std::nullopt, "allowed", std::nullopt, std::nullopt, "[]", "[]", "{}", "SELECT 1", "1", "10", "5",
             std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::string(64, '0'), hash}},
        {},
        {row{"4", "2026-11-25T10:00:00.000000Z", std::nullopt, "cs_bot", "reader", "127.0.0.1", "mcp", "shop", "1",
             std::nullopt, std::nullopt}},
        {row{"v1", "2026-11-25T09:00:00.000000Z", "policies: {}"}},
    };
    REQUIRE(audit::import_central_rows(file, tables));
    auto review = audit::review::open(file);
    REQUIRE(review);
    auto shown = review->show(1);
    REQUIRE(shown);
    REQUIRE(shown->size() == 3);
    CHECK((*shown)[1].rows.size() == 1);  // the session
    CHECK((*shown)[2].rows.size() == 1);  // the policy version
    CHECK(std::get<std::string>((*shown)[2].rows[0][2]) == "policies: {}");
}

TEST_CASE("audit review: several logs as one — by time, each row with its log; verify stays per log", "[audit]") {
    temp_dir dir;
    const auto a = dir.file("a.db"), b = dir.file("b.db");
    {
        auto sink = open_sink(a);
        sink->submit(audit::policy_version{"va", std::chrono::system_clock::now(), "policy a"});
        sink->submit(session(1, "cs_bot"));
        auto s = statement_record("SELECT 'a first'");
        s.policy_version = "va";
        sink->submit(s);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    {
        auto sink = open_sink(b);
        sink->submit(audit::policy_version{"vb", std::chrono::system_clock::now(), "policy b"});
        sink->submit(session(1, "ops_bot"));
        auto s = statement_record("SELECT 'b second'", audit::verdict::blocked);
        s.client = "ops_bot";
        s.policy_version = "vb";
        sink->submit(s);
    }
    // An older log (schema 1 had no row_scoped column) reads beside a new one.
    sqlite_column(b, "ALTER TABLE statements DROP COLUMN row_scoped");
    auto review = audit::review::open(std::vector<audit::review_source>{{"replica-a", a}, {"replica-b", b}});
    REQUIRE(review);
    audit::statement_filter all;
    auto listed = review->list(all);
    REQUIRE(listed);
    REQUIRE(listed->columns.front() == "log");
    REQUIRE(listed->rows.size() == 2);
    CHECK(std::get<std::string>(listed->rows[0][0]) == "replica-b");  // newest first, across logs
    CHECK(std::get<std::string>(listed->rows[1][0]) == "replica-a");

    // Statement 1 is in both: each with its own log's session and policy.
    auto shown = review->show(1);
    REQUIRE(shown);
    REQUIRE(shown->size() == 6);
    const auto column = [](const audit::result_set& r, std::string_view name) {
        for (std::size_t i = 0; i < r.columns.size(); ++i)
            if (r.columns[i] == name) return r.rows.at(0).at(i);
        return audit::cell{};
    };
    CHECK((*shown)[0].title == "statement in replica-a");
    CHECK((*shown)[5].title == "policy version in replica-b");
    CHECK(std::get<std::string>(column((*shown)[1], "client")) == "cs_bot");
    CHECK(std::get<std::string>(column((*shown)[2], "source")) == "policy a");
    CHECK(std::get<std::string>(column((*shown)[4], "client")) == "ops_bot");
    CHECK(std::get<std::string>(column((*shown)[5], "source")) == "policy b");

    auto stats = review->stats(std::nullopt);
    REQUIRE(stats);
    CHECK(stats->front().title == "verdicts by log");
    CHECK(stats->front().rows.size() == 2);
    CHECK_FALSE(review->verify());

    CHECK_FALSE(audit::review::open(std::vector<audit::review_source>{{"same", a}, {"same", b}}));
    const auto bad = dir.file("not-audit.db");
    sqlite_column(bad, "CREATE TABLE t (x int)");
    const auto refused = audit::review::open(std::vector<audit::review_source>{{"a", a}, {"bad", bad}});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().find("not-audit.db") != std::string::npos);
}

TEST_CASE("audit review: a fleet larger than SQLite's attach limit is read as one", "[audit]") {
    temp_dir dir;
    std::vector<audit::review_source> logs;
    for (int i = 0; i < 12; ++i) {
        const auto file = dir.file(("replica-" + std::to_string(i) + ".db").c_str());
        {
            auto sink = open_sink(file);
            sink->submit(statement_record("SELECT " + std::to_string(i), i % 2 ? audit::verdict::blocked
                                                                             : audit::verdict::allowed));
        }
        logs.push_back({"replica-" + std::to_string(i), file});
    }
    auto review = audit::review::open(logs);
    REQUIRE(review);
    audit::statement_filter refused;
    refused.refused_only = true;
    refused.limit = 0;
    auto listed = review->list(refused);
    REQUIRE(listed);
    CHECK(listed->rows.size() == 6);
    auto stats = review->stats(std::nullopt);
    REQUIRE(stats);
    CHECK(stats->front().rows.size() == 12);
}

TEST_CASE("audit retention: events and ended sessions go once shipped, the newest stays so no id is handed out twice",
          "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        for (std::uint64_t id = 1; id <= 3; ++id) {
            sink->submit(session(id, "cs_bot"));
            sink->submit(audit::session_ended{id, std::chrono::system_clock::now(), "client closed"});
            sink->submit(audit::event{std::chrono::system_clock::now(), 0, "login_failed", "{}"});
        }
        sink->submit(statement_record("SELECT 1"));  // in session 1
    }
    {
        auto reader = audit::export_reader::open(file, "otlp a");
        REQUIRE(reader);
        for (const auto source : audit::export_sources) REQUIRE((*reader)->advance(source, 3));
    }
    {
        auto sink = retaining_sink(file, {"otlp a"});
        wait_for_value(file, "SELECT count(*) FROM events", "1");
        sink->submit(audit::event{std::chrono::system_clock::now(), 0, "login_failed", "{}"});
    }
    // Session 1 holds a statement, session 3 is the newest: both stay.
    CHECK(sqlite_column(file, "SELECT id FROM sessions ORDER BY id") == std::vector<std::string>{"1", "3"});
    // The event after retention takes id 4, after the cursor: it will be shipped.
    CHECK(sqlite_column(file, "SELECT id FROM events ORDER BY id") == std::vector<std::string>{"3", "4"});
}

TEST_CASE("attack: a replaced or truncated audit file is not shipped under the instance id of the log it replaces",
          "[audit][security]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        for (int i = 0; i < 5; ++i) sink->submit(statement_record("SELECT " + std::to_string(i)));
    }
    const auto hash_of = [&](int id) {
        return sqlite_column(file, "SELECT hash FROM statements WHERE id = " + std::to_string(id)).at(0);
    };
    auto reader = audit::export_reader::open(file, "store");
    REQUIRE(reader);
    CHECK((*reader)->continues(std::nullopt));                     // a store that holds nothing of it yet
    CHECK((*reader)->continues(std::pair{std::int64_t{5}, hash_of(5)}));  // it shipped up to its newest
    CHECK((*reader)->continues(std::pair{std::int64_t{3}, hash_of(3)}));  // it shipped less
    // Another file's row 3 (a new file under the same instance id starts at 1 again).
    const auto other = (*reader)->continues(std::pair{std::int64_t{3}, std::string(64, 'f')});
    REQUIRE_FALSE(other);
    CHECK(other.error().find("differs from this file's") != std::string::npos);
    // The store is ahead of the file: its newest rows were deleted, or it was replaced.
    const auto behind = (*reader)->continues(std::pair{std::int64_t{9}, std::string(64, 'f')});
    REQUIRE_FALSE(behind);
    CHECK(behind.error().find("which this file does not (its newest is 5)") != std::string::npos);
    // Rows retention let go after shipping are not missing.
    sqlite_column(file, "INSERT INTO chain_anchor (only_row, last_id, last_hash) VALUES (1, 2, '" + hash_of(2) + "')");
    sqlite_column(file, "DELETE FROM statements WHERE id <= 2");
    CHECK((*reader)->continues(std::pair{std::int64_t{2}, std::string(64, 'a')}));
}

TEST_CASE("attack: a crafted audit file's column name cannot rewrite the merged review", "[audit][security]") {
    // A column named `x" FROM …; DROP VIEW statements; CREATE TEMP VIEW
    // statements AS … --` was spliced into the merged views' SQL.
    temp_dir dir;
    const auto a = dir.file("a.db");
    const auto b = dir.file("b.db");
    for (const auto& file : {a, b}) {
        auto sink = open_sink(file);
        sink->submit(statement_record("SELECT 1"));
    }
    sqlite_column(b, "ALTER TABLE statements ADD COLUMN \"x\"\" FROM src0.statements; DROP VIEW statements; "
                     "CREATE TEMP VIEW statements AS SELECT 1 --\" TEXT");
    const auto refused = audit::review::open(std::vector<audit::review_source>{{"a", a}, {"b", b}});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().find("b.db: table statements has a column no pgsieve audit schema has") != std::string::npos);
    CHECK(refused.error().find("DROP VIEW") != std::string::npos);  // named, quoted
    // Known columns in an older schema still merge.
    auto ok = audit::review::open(std::vector<audit::review_source>{{"a", a}, {"a2", a}});
    REQUIRE(ok);
    CHECK(ok->list({})->rows.size() == 2);
}
