// The audit layer without sockets: sqlcommenter tags, the sink's schema,
// batching, hash chain and drop counting on a temporary SQLite file, the
// review queries, and the records a session makes.

#include "session_support.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/audit/fingerprint.hpp>
#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/review_format.hpp>
#include <pgsieve/audit/sink.hpp>
#include <pgsieve/audit/tags.hpp>
#include <pgsieve/common/utf8.hpp>

#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <random>

using namespace pgsieve;
using namespace pgsieve::test;

namespace {

// A fresh directory for one test's database, removed afterwards.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() / ("pgsieve-audit-" + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string file(const char* name) const { return (path / name).string(); }
};

audit::statement statement_record(std::string sql, audit::verdict v = audit::verdict::allowed) {
    audit::statement s;
    s.session_id = 1;
    s.ts = std::chrono::system_clock::now();
    s.client = "cs_bot";
    s.policy = "reader";
    s.protocol = "simple";
    s.sql = std::move(sql);
    s.outcome = v;
    s.tables = {"public.customers"};
    s.columns = {"public.customers.id"};
    return s;
}

// Runs SQL against the file directly (as a tamperer, or to read back).
std::vector<std::string> sqlite_column(const std::string& file, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(s, 0);
        out.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

std::unique_ptr<audit::sink> open_sink(const std::string& file, bool normalize = false) {
    audit::sink_options o;
    o.path = file;
    o.normalize_sql = normalize;
    o.flush_interval = std::chrono::milliseconds(5);
    auto s = audit::sink::open(o);
    REQUIRE(s);
    return std::move(*s);
}

}  // namespace

TEST_CASE("audit tags: sqlcommenter pairs from comments, not from literals", "[audit]") {
    CHECK(audit::sqlcommenter_tags("SELECT 1 /* tool='query', request_id='r%2D1' */") ==
          audit::tag_list{{"tool", "query"}, {"request_id", "r-1"}});
    CHECK(audit::sqlcommenter_tags("/*action='a\\'b'*/ SELECT 1") == audit::tag_list{{"action", "a'b"}});
    // A comment that is prose, a comment inside a literal, a dollar quote or an identifier: no tags.
    CHECK(audit::sqlcommenter_tags("SELECT 1 /* just a note */").empty());
    CHECK(audit::sqlcommenter_tags("SELECT '/* tool=''x'' */'").empty());
    CHECK(audit::sqlcommenter_tags("SELECT $q$ /* tool='x' */ $q$").empty());
    CHECK(audit::sqlcommenter_tags("SELECT 1 AS \"/* tool='x' */\"").empty());
    CHECK(audit::sqlcommenter_tags("SELECT $1 /* tool='y' */") == audit::tag_list{{"tool", "y"}});
    CHECK(audit::tags_json("SELECT 1 /* tool='query' */", "mcp \"server\"") ==
          R"({"tool":"query","application_name":"mcp \"server\""})");
    CHECK(audit::tags_json("SELECT 1", "") == "{}");
}

TEST_CASE("audit fingerprint: the same query whatever its constants, spacing, comments and case", "[audit]") {
    using audit::fingerprint;
    const auto base = fingerprint("SELECT abalance FROM pgbench_accounts WHERE aid = 42;");
    CHECK(base.size() == 16);
    CHECK(fingerprint("select abalance\n  from pgbench_accounts where aid = 7") == base);
    CHECK(fingerprint("SELECT abalance FROM pgbench_accounts WHERE aid = $1") == base);
    CHECK(fingerprint("/* tool='q' */ SELECT abalance FROM pgbench_accounts -- x\n WHERE aid = 1.5e3") == base);
    CHECK(fingerprint("SELECT name FROM t WHERE s = 'a''b'") == fingerprint("SELECT name FROM t WHERE s = E'x\\'y'"));
    CHECK(fingerprint("SELECT $$ a $$") == fingerprint("SELECT 'b'"));
    // Different tables, columns, quoted identifiers or statements are different queries.
    CHECK(fingerprint("SELECT abalance FROM pgbench_tellers WHERE aid = 42") != base);
    CHECK(fingerprint("SELECT bbalance FROM pgbench_accounts WHERE aid = 42") != base);
    CHECK(fingerprint("SELECT \"Id\" FROM t") != fingerprint("SELECT \"id\" FROM t"));
    CHECK(fingerprint("SELECT 1; SELECT 2") != fingerprint("SELECT 1"));
    CHECK(fingerprint("SELECT t1.x FROM t1") != fingerprint("SELECT t2.x FROM t2"));
}

TEST_CASE("audit sink: records are written with the contract columns and a verifiable chain", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        const auto id = sink->new_session_id();
        CHECK(id == 1);
        sink->submit(audit::session_started{id, std::chrono::system_clock::now(), "cs_bot", "reader", "127.0.0.1",
                                            "psql", "app", true});
        sink->submit(audit::policy_version{"0123456789abcdef", std::chrono::system_clock::now(), "policies: {}"});
        for (int i = 0; i < 1000; ++i) sink->submit(statement_record("SELECT " + std::to_string(i)));
        auto refused = statement_record("SELECT ssn FROM customers /* tool='query' */", audit::verdict::blocked);
        refused.rule = "column";
        refused.sqlstate = "42501";
        sink->submit(refused);
        sink->submit(audit::session_ended{id, std::chrono::system_clock::now(), "client sent Terminate"});
        sink->close();
        CHECK(sink->stats().written == 1004);
        CHECK(sink->stats().dropped == 0);
    }
    CHECK(sqlite_column(file, "SELECT count(*) FROM statements") == std::vector<std::string>{"1001"});
    CHECK(sqlite_column(file, "PRAGMA journal_mode") == std::vector<std::string>{"wal"});
    CHECK(sqlite_column(file, "SELECT tags FROM statements WHERE verdict = 'blocked'") ==
          std::vector<std::string>{R"({"tool":"query"})"});
    CHECK(sqlite_column(file, "SELECT tables || columns FROM statements WHERE id = 1") ==
          std::vector<std::string>{R"(["public.customers"]["public.customers.id"])"});
    // Statements differing only in constants share a fingerprint.
    CHECK(sqlite_column(file, "SELECT count(DISTINCT fingerprint) FROM statements WHERE verdict = 'allowed'") ==
          std::vector<std::string>{"1"});
    CHECK(sqlite_column(file, "SELECT end_reason FROM sessions") == std::vector<std::string>{"client sent Terminate"});

    auto review = audit::review::open(file);
    REQUIRE(review);
    auto verified = review->verify();
    REQUIRE(verified);
    CHECK(verified->checked == 1001);
    CHECK_FALSE(verified->first_bad_id);

    // Reopening continues the chain and the session ids.
    {
        auto sink = open_sink(file);
        CHECK(sink->new_session_id() == 2);
        sink->submit(statement_record("SELECT 'after restart'"));
    }
    auto again = audit::review::open(file);
    REQUIRE(again);
    CHECK(again->verify()->checked == 1002);
    CHECK_FALSE(again->verify()->first_bad_id);
}

TEST_CASE("attack: editing an audited statement is named by verify", "[audit][security]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        for (int i = 0; i < 10; ++i) sink->submit(statement_record("SELECT " + std::to_string(i)));
    }
    sqlite_column(file, "UPDATE statements SET sql = 'SELECT 42' WHERE id = 7");
    auto review = audit::review::open(file);
    REQUIRE(review);
    const auto r = review->verify();
    REQUIRE(r);
    REQUIRE(r->first_bad_id);
    CHECK(*r->first_bad_id == 7);
    CHECK(r->checked == 6);
}

TEST_CASE("audit sink: a full queue drops and counts with on_overflow: drop, and says so in the log", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    audit::sink_options o;
    o.path = file;
    o.drop_on_overflow = true;
    o.capacity = 4;
    o.flush_interval = std::chrono::hours(1);  // nothing is written until close()
    {
        auto sink = audit::sink::open(o);
        REQUIRE(sink);
        for (int i = 0; i < 10; ++i) (*sink)->submit(statement_record("SELECT " + std::to_string(i)));
        // The queue wakes the writer at half capacity; whatever it took, some were dropped.
        (*sink)->close();
        const auto stats = (*sink)->stats();
        CHECK(stats.dropped > 0);
        CHECK(stats.dropped + std::stoull(sqlite_column(file, "SELECT count(*) FROM statements")[0]) == 10);
    }
    const auto detail = sqlite_column(file, "SELECT detail FROM events WHERE kind = 'audit_dropped'");
    REQUIRE(detail.size() == 1);
    CHECK(detail[0].find("\"dropped\":") != std::string::npos);
}

TEST_CASE("audit sink: store_sql: normalized keeps no constants", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    open_sink(file, true)->submit(statement_record("SELECT name FROM customers WHERE ssn = '123-45-6789'"));
    CHECK(sqlite_column(file, "SELECT sql FROM statements") ==
          std::vector<std::string>{"SELECT name FROM customers WHERE ssn = $1"});
}

TEST_CASE("audit sink: a file that is not an audit log, or from a newer pgsieve, is refused", "[audit]") {
    temp_dir dir;
    const auto other = dir.file("other.db");
    sqlite_column(other, "CREATE TABLE accounts (id int)");
    const auto r = audit::sink::open({other});
    REQUIRE_FALSE(r);
    CHECK(r.error().find("not a pgsieve audit log") != std::string::npos);

    const auto newer = dir.file("newer.db");
    open_sink(newer).reset();
    sqlite_column(newer, "PRAGMA user_version = 99");
    const auto n = audit::sink::open({newer});
    REQUIRE_FALSE(n);
    CHECK(n.error().find("newer pgsieve") != std::string::npos);

    const auto missing = audit::sink::open({dir.file("no/such/dir/audit.db")});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().find("no/such/dir/audit.db") != std::string::npos);
}

TEST_CASE("audit sink: a schema 1 log is migrated, its chain still verifies and new rows chain on", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        std::ifstream in(std::string(PGSIEVE_FIXTURES) + "/audit_schema1.sql");
        REQUIRE(in);
        const std::string dump((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
        REQUIRE(sqlite3_exec(db, dump.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
    }
    CHECK(sqlite_column(file, "PRAGMA user_version") == std::vector<std::string>{"1"});
    {
        auto sink = open_sink(file);
        const auto id = sink->new_session_id();
        CHECK(id == 2);
        audit::session_started started{id, std::chrono::system_clock::now(), "t1", "tenant", "127.0.0.1", "psql", "app",
                                       false};
        started.attributes = audit::detail_json({{"tenant_id", "1"}});
        sink->submit(started);
        auto scoped = statement_record("SELECT * FROM app.orders");
        scoped.tables = {"app.orders"};
        scoped.row_scoped = {"app.orders"};
        sink->submit(scoped);
    }
    CHECK(sqlite_column(file, "PRAGMA user_version") == std::vector<std::string>{"3"});
    CHECK(sqlite_column(file, "SELECT coalesce(attributes, 'NULL') FROM sessions ORDER BY id") ==
          std::vector<std::string>{"NULL", R"({"tenant_id":"1"})"});
    CHECK(sqlite_column(file, "SELECT coalesce(row_scoped, 'NULL') FROM statements ORDER BY id") ==
          std::vector<std::string>{"NULL", "NULL", "NULL", R"(["app.orders"])"});
    auto review = audit::review::open(file);
    REQUIRE(review);
    const auto verified = review->verify();
    REQUIRE(verified);
    CHECK(verified->checked == 4);
    CHECK_FALSE(verified->first_bad_id);
    // row_scoped is under the hash: clearing it on a new row is named.
    sqlite_column(file, "UPDATE statements SET row_scoped = NULL WHERE id = 4");
    const auto tampered = review->verify();
    REQUIRE(tampered);
    REQUIRE(tampered->first_bad_id);
    CHECK(*tampered->first_bad_id == 4);
}

TEST_CASE("audit review: list filters, stats sections and formats", "[audit]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        sink->submit(statement_record("SELECT id FROM customers"));
        auto refused = statement_record("SELECT ssn FROM customers", audit::verdict::blocked);
        refused.rule = "column";
        refused.reason = "column \"ssn\" is not allowed";
        sink->submit(refused);
        auto other = statement_record("SELECT 1");
        other.client = "ops_bot";
        other.tables = {"hr.employees"};
        sink->submit(other);
    }
    auto review = audit::review::open(file);
    REQUIRE(review);
    audit::statement_filter f;
    f.refused_only = true;
    auto refused = review->list(f);
    REQUIRE(refused);
    REQUIRE(refused->rows.size() == 1);
    f = {};
    f.table = "employees";
    CHECK(review->list(f)->rows.size() == 1);
    f.table = "public.customers";
    CHECK(review->list(f)->rows.size() == 2);
    f = {};
    f.client = "ops_bot";
    CHECK(review->list(f)->rows.size() == 1);
    f = {};
    f.since = "2999-01-01";
    CHECK(review->list(f)->rows.empty());

    const auto table = audit::format_table(*refused);
    CHECK(table.find("SELECT ssn FROM customers") != std::string::npos);
    CHECK(table.find("(1 row)") != std::string::npos);

    auto stats = review->stats(std::nullopt);
    REQUIRE(stats);
    REQUIRE(stats->size() == 6);
    CHECK((*stats)[0].title == "verdicts by client");
    CHECK(audit::json_sections(*stats).find(R"("refusals by rule":[{"rule":"column","refused":1)") != std::string::npos);

    CHECK(audit::csv_row({std::string("a,\"b\""), std::int64_t{3}, std::monostate{}}) == "\"a,\"\"b\"\"\",3,\r\n");
    CHECK(audit::json_object({"tables", "rows", "error"}, {std::string(R"(["t"])"), std::int64_t{2}, std::monostate{}}) ==
          R"({"tables":["t"],"rows":2,"error":null})");

    const auto now = std::chrono::system_clock::now();
    CHECK(audit::parse_since("1h", now).value() < rfc3339(now));
    CHECK(audit::parse_since("2026-11-24", now).value() == "2026-11-24");
    CHECK_FALSE(audit::parse_since("yesterday", now));
}

TEST_CASE("session audit: start, each statement with its verdict and reads, end", "[audit][session]") {
    harness h;
    h.s->set_peer("10.0.0.7");
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(query("SELECT id FROM customers; SELECT name FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + complete("SELECT 1") +
                     frame('T', std::string(6, '\0')) + data_row("a") + data_row("b") + complete("SELECT 2") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    h.client_sends(query("SELECT ssn FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    wire::error_fields syntax;
    syntax.sqlstate = "42601";
    syntax.message = "syntax error";
    std::string reply;
    wire::write_error_response(reply, syntax);
    h.upstream_sends(reply + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    // A statement still in flight when the connection closes is recorded too.
    h.client_sends(query("SELECT name FROM customers WHERE id = 1"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.s->on_closed(std::chrono::system_clock::now(), "client vanished");

    const auto records = h.s->take_audit_records(std::chrono::system_clock::now());
    REQUIRE(records.size() == 6);
    const auto& started = std::get<audit::session_started>(records[0]);
    CHECK(started.client == "cs_bot");
    CHECK(started.policy == "reader");
    CHECK(started.client_addr == "10.0.0.7");
    const auto& first = std::get<audit::statement>(records[1]);
    CHECK(first.sql == "SELECT id FROM customers");
    CHECK(first.columns == std::vector<std::string>{"public.customers.id"});
    CHECK(first.command_tag == "SELECT 1");
    CHECK(first.rows == 1);
    const auto& second = std::get<audit::statement>(records[2]);
    CHECK(second.sql == " SELECT name FROM customers");
    CHECK(second.columns == std::vector<std::string>{"public.customers.name"});
    CHECK(second.rows == 2);
    const auto& refused = std::get<audit::statement>(records[3]);
    CHECK(refused.outcome == audit::verdict::blocked);
    CHECK(refused.rule == "column");
    CHECK(refused.sqlstate == "42501");
    CHECK(refused.reason.find("ssn") != std::string::npos);
    CHECK(refused.policy_version == h.cfg->version);
    const auto& abandoned = std::get<audit::statement>(records[4]);
    CHECK(abandoned.sql == "SELECT name FROM customers WHERE id = 1");
    CHECK(abandoned.sqlstate == "08006");
    const auto& ended = std::get<audit::session_ended>(records[5]);
    CHECK(ended.end_reason == "client vanished");
}

TEST_CASE("session audit: a wrong password is an auth_failed event", "[audit][session]") {
    harness h;
    client_login(h, "cs_bot", "wrong");
    h.s->on_closed(std::chrono::system_clock::now());
    const auto records = h.s->take_audit_records(std::chrono::system_clock::now());
    REQUIRE(records.size() == 1);
    const auto& e = std::get<audit::event>(records[0]);
    CHECK(e.kind == "auth_failed");
    CHECK(e.detail.find(R"("sqlstate":"28P01")") != std::string::npos);
}

TEST_CASE("attack: a comment the model writes cannot hide the tool's tags or the connection's application_name",
          "[audit][security]") {
    // MCP Toolbox prepends its comment; a model-written one after it with the same key is kept beside it.
    CHECK(audit::tags_json("/* tool='list_tables' */ SELECT 1 /* tool='innocent' */", "toolbox") ==
          R"({"tool":["list_tables","innocent"],"application_name":"toolbox"})");
    // sqlcommenter appends: the model's earlier comment does not win either.
    CHECK(audit::tags_json("/* route='/fake' */ SELECT 1 /* route='/real',framework='django' */", "") ==
          R"({"route":["/fake","/real"],"framework":"django"})");
    // The SQL text cannot replace the connection's application_name.
    CHECK(audit::tags_json("SELECT 1 /* application_name='someone-else' */", "mcp") ==
          R"({"comment_application_name":"someone-else","application_name":"mcp"})");
}

TEST_CASE("attack: a %ff escape in a tag is stored as valid UTF-8", "[audit][security]") {
    const auto json = audit::tags_json("SELECT 1 /* tool='a%ffb', note='x+y%20z' */", "");
    CHECK(is_valid_utf8(json));
    CHECK(json == "{\"tool\":\"a\xEF\xBF\xBD" "b\",\"note\":\"x y z\"}");
    CHECK(valid_utf8("ok \xC3\xA9 \xff \xED\xA0\x80") == "ok \xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

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
    const auto bytes = audit::encode_otlp_logs({r}, "replica-a");
    // ExportLogsServiceRequest.resource_logs: field 1, length-delimited.
    REQUIRE(bytes.size() > 260);
    CHECK(static_cast<unsigned char>(bytes[0]) == 0x0a);
    CHECK(bytes.find(std::string(200, 'x')) != std::string::npos);
    CHECK(bytes.find(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10)) != std::string::npos);
    CHECK(bytes.find("replica-a/statements/300") != std::string::npos);
}

TEST_CASE("audit export: the central store's SQL makes each day's partition and inserts idempotently", "[audit]") {
    audit::shipped_record r;
    r.source = audit::export_source::statements;
    r.id = 7;
    r.row = {{"id", std::int64_t{7}}, {"ts", std::string("2026-12-31T23:59:59.999999Z")}, {"sql", std::string("SELECT 'it''s'")}};
    const auto sql = audit::central_store_sql({r}, "replica-a");
    CHECK(sql.find("PARTITION OF pgsieve_audit.statements FOR VALUES FROM ('2026-12-31 00:00:00+00') TO "
                   "('2027-01-01 00:00:00+00')") != std::string::npos);
    CHECK(sql.find("pgsieve_audit.statements_20261231") != std::string::npos);
    CHECK(sql.find("INSERT INTO pgsieve_audit.statements (instance, id, ts, sql) VALUES ('replica-a', 7, "
                   "'2026-12-31T23:59:59.999999Z', 'SELECT ''it''''s''') ON CONFLICT DO NOTHING;") != std::string::npos);
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
    audit::sink_options o;
    o.path = file;
    o.flush_interval = std::chrono::milliseconds(5);
    o.retention = std::chrono::milliseconds(1);
    o.shipped_to = {"otlp a", "postgresql b"};
    {
        auto sink = audit::sink::open(o);
        REQUIRE(sink);
        // Rows 1..6 went to both destinations: they go; 7..10 stay.
        for (int waited = 0; waited < 100 && sqlite_column(file, "SELECT min(id) FROM statements")[0] != "7"; ++waited)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        CHECK(sqlite_column(file, "SELECT min(id) FROM statements") == std::vector<std::string>{"7"});
        (*sink)->submit(statement_record("SELECT 'after retention'"));
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
    audit::sink_options o;
    o.path = file;
    o.flush_interval = std::chrono::milliseconds(5);
    o.retention = std::chrono::milliseconds(1);
    o.shipped_to = {"otlp a"};
    {
        auto sink = audit::sink::open(o);
        REQUIRE(sink);
        for (int waited = 0; waited < 100 && sqlite_column(file, "SELECT count(*) FROM statements")[0] != "1"; ++waited)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
