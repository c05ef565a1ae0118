// The audit layer without sockets: sqlcommenter tags, the sink's schema,
// batching, hash chain and drop counting on a temporary SQLite file, the
// review queries, and the records a session makes.

#include "audit_support.hpp"
#include "session_support.hpp"

#include <pgsieve/audit/fingerprint.hpp>
#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/review_format.hpp>
#include <pgsieve/audit/sink.hpp>
#include <pgsieve/audit/tags.hpp>
#include <pgsieve/common/utf8.hpp>

#include <fmt/format.h>

#include <fstream>
#include <thread>

using namespace pgsieve;
using namespace pgsieve::test;
using namespace std::string_literals;

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
    // Large pages: a batch's commit writes a few WAL frames, not dozens.
    CHECK(sqlite_column(file, "PRAGMA page_size") == std::vector<std::string>{"32768"});
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
    std::uint64_t dropped = 0;
    {
        auto sink = audit::sink::open(o);
        REQUIRE(sink);
        for (int i = 0; i < 10; ++i) (*sink)->submit(statement_record("SELECT " + std::to_string(i)));
        // The queue wakes the writer at half capacity; whatever it took, some were dropped.
        (*sink)->close();
        dropped = (*sink)->stats().dropped;
        CHECK(dropped > 0);
        CHECK(dropped + std::stoull(sqlite_column(file, "SELECT count(*) FROM statements")[0]) == 10);
    }
    // One event per write in which drops were new (how many writes the
    // writer needed depends on when it woke): together they count them all.
    const auto reported = [&](const char* aggregate) {
        return std::stoull(sqlite_column(file, fmt::format("SELECT {} FROM events WHERE kind = 'audit_dropped'",
                                                           aggregate))[0]);
    };
    CHECK(reported("sum(detail ->> 'dropped')") == dropped);
    CHECK(reported("max(detail ->> 'total')") == dropped);
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
    CHECK(sqlite_column(file, "PRAGMA user_version") == std::vector<std::string>{"6"});
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

TEST_CASE("audit sink: the masked output columns are recorded under the hash", "[audit][mask]") {
    temp_dir dir;
    const auto file = dir.file("audit.db");
    {
        auto sink = open_sink(file);
        sink->submit(statement_record("SELECT id FROM customers"));
        auto masked = statement_record("SELECT id, ssn, email FROM customers");
        masked.masked = {{1, "public.customers.ssn", "hash", true}, {2, "public.customers.email", "email_domain", true}};
        sink->submit(masked);
        auto monitored = statement_record("SELECT ssn FROM customers");
        monitored.masked = {{0, "public.customers.ssn", "hash", false}};
        sink->submit(monitored);
    }
    CHECK(sqlite_column(file, "SELECT coalesce(masked, 'NULL') FROM statements ORDER BY id") ==
          std::vector<std::string>{
              "NULL",
              R"([{"position":1,"column":"public.customers.ssn","method":"hash"},)"
              R"({"position":2,"column":"public.customers.email","method":"email_domain"}])",
              R"([{"position":0,"column":"public.customers.ssn","method":"hash","applied":false}])"});
    auto review = audit::review::open(file);
    REQUIRE(review);
    const auto verified = review->verify();
    REQUIRE(verified);
    CHECK_FALSE(verified->first_bad_id);
    // Saying a column was not masked, or was masked another way, breaks the chain.
    sqlite_column(file, "UPDATE statements SET masked = NULL WHERE id = 2");
    const auto tampered = review->verify();
    REQUIRE(tampered);
    REQUIRE(tampered->first_bad_id);
    CHECK(*tampered->first_bad_id == 2);
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

TEST_CASE("attack: a slow audit disk makes sessions wait for room, never their thread", "[audit][security]") {
    // on_overflow: wait once blocked the worker thread inside submit(): every
    // session on it, /healthz and /livez stalled behind a slow disk. try_submit
    // refuses instead, and the session waits on a timer (net/connection.cpp).
    temp_dir dir;
    const auto file = dir.file("audit.db");
    audit::sink_options o;
    o.path = file;
    o.capacity = 4;
    o.flush_interval = std::chrono::milliseconds(1);
    auto sink = audit::sink::open(o);
    REQUIRE(sink);
    // Another writer holds the file: the sink's writer waits on its lock (a slow disk).
    sqlite3* holder = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &holder) == SQLITE_OK);
    REQUIRE(sqlite3_exec(holder, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::size_t accepted = 0;
    bool refused = false;
    for (int i = 0; i < 100000 && !refused; ++i) {
        std::vector<audit::record> one{statement_record("SELECT " + std::to_string(i))};
        if ((*sink)->try_submit(one)) {
            CHECK(one.empty());
            ++accepted;
        } else {
            CHECK(one.size() == 1);  // nothing taken: the caller keeps it
            refused = true;
        }
    }
    CHECK(refused);
    sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(holder);
    (*sink)->close();
    const auto stats = (*sink)->stats();
    // Whatever was accepted is written (or, had the file stayed unwritable, counted as dropped).
    CHECK(std::stoull(sqlite_column(file, "SELECT count(*) FROM statements")[0]) + stats.dropped == accepted);
}

TEST_CASE("attack: invalid UTF-8 and NUL in any audited field are stored as valid text", "[audit][security]") {
    // Invalid UTF-8 in application_name (any client) or a failed login's user
    // name (anyone) was stored raw; PostgreSQL and strict OTLP receivers
    // reject the batch and the export stops for good.
    temp_dir dir;
    const auto file = dir.file("audit.db");
    const std::string bad[] = {"\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "a\0b"s, "\xf4\x90\x80\x80"};
    {
        auto sink = open_sink(file);
        std::uint64_t id = 0;
        for (const auto& b : bad) {
            ++id;
            audit::session_started s;
            s.id = id;
            s.started_at = std::chrono::system_clock::now();
            s.client = "bot" + b;
            s.application_name = "app" + b;
            s.client_addr = "addr" + b;
            s.database = "db" + b;
            sink->submit(s);
            auto st = statement_record("SELECT '" + b + "'");
            st.session_id = id;
            st.error = "err" + b;
            st.tables = {"t" + b};
            st.application_name = b;
            sink->submit(st);
            sink->submit(audit::event{std::chrono::system_clock::now(), 0, "auth_failed",
                                      audit::detail_json({{"user", "u" + b}})});
            sink->submit(audit::session_ended{id, std::chrono::system_clock::now(), "why" + b});
        }
    }
    for (const auto* sql : {"SELECT client || application_name || client_addr || database || end_reason FROM sessions",
                            "SELECT sql || error || tables || tags FROM statements", "SELECT detail FROM events"}) {
        const auto values = sqlite_column(file, sql);
        REQUIRE(values.size() >= std::size(bad));
        for (const auto& v : values) {
            CHECK(is_valid_utf8(v));
            CHECK(v.find('\0') == std::string::npos);
        }
    }
    // The sessions' texts are replaced, not dropped.
    CHECK(sqlite_column(file, "SELECT count(*) FROM sessions WHERE application_name LIKE 'app%'").at(0) ==
          std::to_string(std::size(bad)));
    CHECK(sqlite_column(file, "SELECT count(*) FROM statements WHERE sql LIKE 'SELECT ''%'").at(0) ==
          std::to_string(std::size(bad)));
}

TEST_CASE("attack: terminal escapes in recorded text are printed inert by review", "[audit][security]") {
    // SELECT ssn FROM customers /* ESC[2K ESC[1A ESC[2K */ is refused and
    // recorded; `audit list --blocked` erased its own line and the one above.
    const std::string sql = "SELECT ssn FROM customers /* \x1b[2K\x1b[1A\x1b[2K \xc2\x9b" "2K \x7f */";
    audit::result_set r;
    r.title = "statements";
    r.columns = {"sql"};
    r.rows = {{sql}};
    for (const auto& printed : {audit::format_table(r), audit::format_vertical(r), audit::csv_row(r.rows[0]),
                                audit::json_rows(r)}) {
        INFO(printed);
        CHECK(printed.find('\x1b') == std::string::npos);
        CHECK(printed.find("\xc2\x9b") == std::string::npos);
        CHECK(printed.find('\x7f') == std::string::npos);
    }
    CHECK(audit::format_vertical(r).find("\\x1b[2K\\x1b[1A") != std::string::npos);
    CHECK(audit::json_rows(r).find("\\u001b[2K") != std::string::npos);
    CHECK(audit::json_rows(r).find("\\u009b2K") != std::string::npos);
    // Line breaks stay line breaks in the forms that keep them.
    r.rows = {{std::string("SELECT 1\nFROM t")}};
    CHECK(audit::csv_row(r.rows[0]) == "\"SELECT 1\nFROM t\"\r\n");
}
