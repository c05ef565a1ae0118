// Enforcement on the wire: refused messages are replaced by substitutes
// PostgreSQL rejects, and the resulting errors rewritten, in lockstep.

#include "session_support.hpp"

#include <pgsieve/wire/backend.hpp>

using namespace pgsieve;
using namespace pgsieve::test;
using session::action;

namespace {


std::string error_reply() {
    std::string out;
    wire::error_fields e;
    e.sqlstate = "42601";
    e.message = "syntax error at or near \"pgsieve\"";
    wire::write_error_response(out, e);
    return out;
}

// What the upstream received, as (type, body) pairs.
std::vector<message> sent_upstream(harness& h) { return h.upstream_receives(); }

}  // namespace

TEST_CASE("enforce: an allowed Query passes unchanged", "[session][enforce]") {
    harness h;
    logged_in(h);
    h.client_sends(query("SELECT id, name FROM customers"));
    REQUIRE(h.s->relay_client(session::clock::now()) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == query("SELECT id, name FROM customers"));
}

TEST_CASE("enforce: a refused Query is replaced and its error rewritten as 42501", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(query("SELECT id, ssn FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "Q");
    CHECK(wire::parse_query(sent[0].body)->sql == "pgsieve refused this statement");

    h.upstream_sends(error_reply() + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "EZ");
    const auto e = error_of(replies[0]);
    CHECK(e.severity == "ERROR");
    CHECK(e.sqlstate == "42501");
    CHECK(e.message == "pgsieve: column \"ssn\" does not exist or is not allowed by policy \"reader\"; "
                       "hint: allowed columns of public.customers: id, name");  // MCP servers pass on only the message
    CHECK(e.hint == "allowed columns of public.customers: id, name");
    CHECK(replies[0].body.find(std::string("P12\0", 4)) != std::string::npos);  // position of ssn
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].refused);
}

TEST_CASE("attack: a refused statement in the middle of a pipeline leaves the rest in lockstep", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    const std::string sync = frame('S', "");
    h.client_sends(parse("a", "SELECT id FROM customers") + bind("", "a") + execute("") + sync +
                   parse("b", "DELETE FROM customers") + bind("", "b") + execute("") + sync +
                   parse("c", "SELECT name FROM customers") + bind("", "c") + execute("") + sync);
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "PBESPBESPBES");
    CHECK(sent[4].body.find("pgsieve refused this statement") != std::string::npos);
    CHECK(sent[0].body.find("SELECT id FROM customers") != std::string::npos);
    CHECK(sent[8].body.find("SELECT name FROM customers") != std::string::npos);
    // PostgreSQL: the first group runs; the substitute Parse fails and Bind/Execute
    // are skipped up to Sync; the third group runs.
    const std::string ok = frame('1', "") + frame('2', "") + complete("SELECT 0") + ready();
    h.upstream_sends(ok + error_reply() + ready() + ok);
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto replies = h.client_receives();
    CHECK(types_of(replies) == "12CZEZ12CZ");
    CHECK(error_of(replies[4]).message.starts_with("pgsieve: delete statements are not allowed by policy \"reader\"; hint: "));
}

TEST_CASE("enforce: FunctionCall is always refused", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    std::string call;
    wire::message_writer(call).begin('F').int32(2263).int16(0).int16(0).int16(1).end();
    h.client_sends(call);
    REQUIRE(h.s->relay_client(session::clock::now()) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "Q");
    h.upstream_sends(error_reply() + ready());
    REQUIRE(h.s->relay_upstream(session::clock::now()) == session::relay_status::keep_going);
    CHECK_THAT(error_of(h.client_receives().at(0)).message, Catch::Matchers::Contains("FunctionCall"));
}

TEST_CASE("enforce: a prepared statement allowed, then refused after a reload", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(parse("s1", "SELECT name FROM customers") + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output().find("SELECT name FROM customers") != std::string::npos);
    h.s->upstream_output().clear();

    // The policy is reloaded: customers.name is no longer granted.
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("columns: [id, name]"), 19, "columns: [id]");
    test::fake_environment env;
    env.variables = {{"UP", "up-secret"}, {"CS", "cs-secret"}};
    h.shared.policies.update(*config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get()), nullptr);

    h.client_sends(bind("", "s1") + execute("") + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "BES");
    CHECK(sent[0].body.find("s1") == std::string::npos);  // bound to a statement that cannot exist
    CHECK(sent[0].body.find("pgsieve_refused_") != std::string::npos);
}

TEST_CASE("enforce: SQL-level PREPARE / EXECUTE / DEALLOCATE are tracked as PostgreSQL confirms them", "[session][enforce]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    // Sends one Query; PostgreSQL answers `tag` (or an error) and ReadyForQuery.
    auto forwarded = [&](std::string_view sql, std::string_view tag) {
        h.client_sends(query(sql));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        const bool same = h.s->upstream_output() == query(sql);
        h.s->upstream_output().clear();
        if (same) h.upstream_sends(complete(tag) + ready());
        else h.upstream_sends(error_frame("42601", "syntax error") + ready());
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        h.s->client_output().clear();
        return same;
    };
    CHECK_FALSE(forwarded("EXECUTE q", ""));
    CHECK(forwarded("PREPARE q AS SELECT id FROM customers", "PREPARE"));
    CHECK(forwarded("EXECUTE q", "SELECT 3"));
    CHECK(forwarded("DEALLOCATE q", "DEALLOCATE"));
    CHECK_FALSE(forwarded("EXECUTE q", ""));
    CHECK_FALSE(forwarded("PREPARE r AS SELECT ssn FROM customers", ""));
    CHECK_FALSE(forwarded("EXECUTE r", ""));
}

TEST_CASE("enforce: without a catalog every statement is refused (fail closed)", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    h.shared.policies.reset();  // nothing loaded
    h.client_sends(query("SELECT 1"));
    REQUIRE(h.s->relay_client(session::clock::now()) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output().find("pgsieve refused") != std::string::npos);
}

TEST_CASE("enforce: monitor mode relays what enforce would refuse, marked would_block", "[session][enforce]") {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24, "    mode: monitor\n    statements: [select]");
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(query("SELECT ssn FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == query("SELECT ssn FROM customers"));
    h.s->upstream_output().clear();
    h.upstream_sends(complete("SELECT 0") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 1);
    CHECK_FALSE(outcomes[0].refused);
    REQUIRE(outcomes[0].decision);
    CHECK(outcomes[0].decision->would_block);
}

TEST_CASE("enforce: rows beyond max_rows are dropped and the result ends with ERROR 54000", "[session][enforce]") {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24, "    max_rows: 2\n    statements: [select]");
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(query("SELECT id FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.s->upstream_output().clear();
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + data_row("2") + data_row("3") + data_row("4") +
                     complete("SELECT 4") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "TDDEZ");
    const auto e = error_of(replies[3]);
    CHECK(e.sqlstate == "54000");
    CHECK(e.message == "pgsieve: result exceeds max_rows=2; add a LIMIT");
    // The next result starts counting afresh.
    h.client_sends(query("SELECT id FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + complete("SELECT 1") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    CHECK(types_of(h.client_receives()) == "TDCZ");
}

TEST_CASE("enforce: budgets refuse with 53400 once used up, and end a result at the rows budget",
          "[session][enforce][budgets]") {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24,
                 "    budgets: {statements: 3/1h, rows: 5/1h}\n    statements: [select]");
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    // Statement 1: 4 rows of 6, the rows budget is 5: all sent.
    h.client_sends(query("SELECT id FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + data_row("2") + data_row("3") + data_row("4") +
                     complete("SELECT 4") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    CHECK(types_of(h.client_receives()) == "TDDDDCZ");
    // Statement 2: one row left of the budget: the second row ends the result with 53400.
    h.client_sends(query("SELECT id FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + data_row("2") + data_row("3") +
                     complete("SELECT 3") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "TDEZ");
    auto e = error_of(replies[2]);
    CHECK(e.sqlstate == "53400");
    CHECK(e.message.starts_with("pgsieve: client \"cs_bot\" used its 5 rows per hour; the budget resets at "));
    // Statement 3: the rows budget is used up: refused before it runs (a substitute goes upstream).
    h.s->upstream_output().clear();
    h.client_sends(query("SELECT id FROM customers"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output().find("SELECT id FROM customers") == std::string::npos);
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() >= 2);
    CHECK(outcomes[1].over_budget);
    CHECK(outcomes[1].rows_sent == 1);
}

TEST_CASE("attack: pipelined statements cannot together pass the rows budget", "[session][enforce][budgets][security]") {
    // What is left of a budget is read when each result starts, after the
    // results before it were charged, not when the statements were sent
    // (all at once, each seeing the whole budget left).
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24, "    budgets: {rows: 5/1h}\n    statements: [select]");
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(query("SELECT id FROM customers") + query("SELECT name FROM customers") +
                   parse("", "SELECT id FROM customers") + bind("", "") + execute("") + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + data_row("2") + data_row("3") +
                     complete("SELECT 3") + ready());
    h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + data_row("2") + data_row("3") +
                     complete("SELECT 3") + ready());
    h.upstream_sends(frame('1', "") + frame('2', "") + data_row("1") + complete("SELECT 1") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto replies = h.client_receives();
    // 3 rows, then 2 of 3 and 53400, then none of the Execute's.
    REQUIRE(types_of(replies) == "TDDDCZTDDEZ12EZ");
    CHECK(error_of(replies[9]).sqlstate == "53400");
    CHECK(error_of(replies[13]).sqlstate == "53400");
}

TEST_CASE("enforce: on_exceed truncate sends the first rows, a NOTICE and the count sent", "[session][enforce]") {
    SECTION("max_rows") {
        std::string yaml = session_yaml;
        yaml.replace(yaml.find("    statements: [select]"), 24,
                     "    max_rows: 2\n    on_exceed: truncate\n    statements: [select]");
        harness h(yaml);
        logged_in(h);
        const auto now = session::clock::now();
        h.client_sends(query("SELECT id FROM customers"));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + data_row("2") + data_row("3") + data_row("4") +
                         complete("SELECT 4") + ready());
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "TDDNCZ");
        const auto notice = *wire::parse_error_response(replies[3].body);
        CHECK(notice.severity == "NOTICE");
        CHECK(notice.message == "pgsieve: result truncated to its first 2 rows by max_rows=2 of policy \"reader\"");
        CHECK(replies[4].body == std::string("SELECT 2\0", 9));
        const auto outcomes = h.s->take_outcomes();
        REQUIRE(outcomes.size() == 1);
        CHECK(outcomes[0].capped);
        CHECK_FALSE(outcomes[0].truncated);
        CHECK(outcomes[0].rows == 4);  // what PostgreSQL produced
        CHECK(outcomes[0].rows_sent == 2);
        // A result within the limit is untouched.
        h.client_sends(query("SELECT id FROM customers"));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("1") + complete("SELECT 1") +
                         ready());
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(types_of(h.client_receives()) == "TDCZ");
    }
    SECTION("max_result_bytes, and a write's RETURNING keeps its count of rows written") {
        std::string yaml = session_yaml;
        yaml.replace(yaml.find("    statements: [select]"), 24,
                     "    max_result_bytes: 40\n    on_exceed: truncate\n    statements: [select]");
        harness h(yaml);
        logged_in(h);
        const auto now = session::clock::now();
        h.client_sends(query("SELECT id FROM customers"));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        // Each row is 1 + 4 + 2 + 4 + 10 = 21 bytes: one fits in 40, two do not.
        h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("0123456789") + data_row("0123456789") +
                         complete("SELECT 2") + ready());
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "TDNCZ");
        CHECK(wire::parse_error_response(replies[2].body)->message.find("max_result_bytes=40") != std::string::npos);
        CHECK(replies[3].body == std::string("SELECT 1\0", 9));
    }
    SECTION("max_result_bytes under on_exceed error ends the result with 54000") {
        std::string yaml = session_yaml;
        yaml.replace(yaml.find("    statements: [select]"), 24, "    max_result_bytes: 40\n    statements: [select]");
        harness h(yaml);
        logged_in(h);
        const auto now = session::clock::now();
        h.client_sends(query("SELECT id FROM customers"));
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        h.upstream_sends(frame('T', std::string(6, '\0')) + data_row("0123456789") + data_row("0123456789") +
                         complete("SELECT 2") + ready());
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "TDEZ");
        CHECK(error_of(replies[2]).message == "pgsieve: result exceeds max_result_bytes=40; select fewer columns or rows");
    }
}

namespace {
// A statement longer than the session analyses inline.
std::string long_select(std::string_view columns) {
    std::string sql = "SELECT " + std::string(columns) + " FROM customers WHERE id IN (0";
    for (int i = 1; sql.size() <= session::inline_analysis_bytes; ++i) sql += "," + std::to_string(i);
    return sql + ")";
}
}  // namespace

TEST_CASE("attack: a long statement is analysed off the session's thread, then relayed in order", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    const auto sql = long_select("id, name");
    h.client_sends(query("SELECT 1") + query(sql) + query("SELECT 2"));
    // What comes before the long statement goes at once; it and what follows wait.
    REQUIRE(h.s->relay_client(now) == session::relay_status::analyse);
    CHECK(h.s->upstream_output() == query("SELECT 1"));
    h.s->upstream_output().clear();
    auto job = h.s->take_analysis_job();
    REQUIRE(job);
    CHECK(job->sql == sql);
    CHECK_FALSE(h.s->take_analysis_job());  // handed out once
    h.s->on_analysis(session::analyse(*job));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == query(sql) + query("SELECT 2"));
}

TEST_CASE("attack: a long statement whose analysis misses its deadline is refused, the session goes on", "[session][enforce][security]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(parse("p", long_select("id")) + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::analyse);
    REQUIRE(h.s->take_analysis_job());
    h.s->on_analysis_timeout(std::chrono::milliseconds(5000));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "PS");
    CHECK(sent[0].body.find("pgsieve refused this statement") != std::string::npos);
    h.upstream_sends(error_reply() + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto e = error_of(h.client_receives().at(0));
    CHECK_THAT(e.message, Catch::Matchers::Contains("listen.analysis_timeout=5000 ms"));
    // A long statement the policy refuses is refused with the policy's reason, off the thread too.
    h.client_sends(query(long_select("ssn")));
    REQUIRE(h.s->relay_client(now) == session::relay_status::analyse);
    h.s->on_analysis(session::analyse(*h.s->take_analysis_job()));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output() == query("pgsieve refused this statement"));
}

TEST_CASE("enforce: a long prepared statement decided again after a reload is analysed off the thread", "[session][enforce]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    h.client_sends(parse("s1", long_select("name")) + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::analyse);
    h.s->on_analysis(session::analyse(*h.s->take_analysis_job()));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.s->upstream_output().clear();
    h.upstream_sends(frame('1', "") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    h.s->client_output().clear();
    // Reloaded: customers.name is no longer granted; the Bind decides the text again.
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("columns: [id, name]"), 19, "columns: [id]");
    test::fake_environment env;
    env.variables = {{"UP", "up-secret"}, {"CS", "cs-secret"}};
    h.shared.policies.update(*config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get()), nullptr);
    h.client_sends(bind("", "s1") + execute("") + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::analyse);
    h.s->on_analysis(session::analyse(*h.s->take_analysis_job()));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "BES");
    CHECK(sent[0].body.find("pgsieve_refused_") != std::string::npos);
}

TEST_CASE("enforce: a write over max_rows_written is rolled back in lockstep, one within it commits",
          "[session][enforce][security]") {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24, "    statements: [select, update]");
    yaml.replace(yaml.find("tables: {"), 9,
                 "tables: {public.tickets: {allow: [select, update], max_rows_written: 2}, ");
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    const std::string write = "UPDATE tickets SET subject = 'x' WHERE id = 1";

    SECTION("a simple Query over the limit: the count decides, the Bind that fails rolls it back") {
        h.client_sends(query(write) + query("SELECT 1"));
        // Sent as Parse, Bind, Describe, Execute and Flush; the next Query waits.
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "PBDEH");
        CHECK(h.s->waiting_for_upstream());
        h.upstream_sends(frame('1', "") + frame('2', "") + frame('n', "") + complete("UPDATE 3"));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(h.client_receives().empty());  // nothing of the write yet
        CHECK_FALSE(h.s->waiting_for_upstream());
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        const auto abort = h.upstream_receives();
        REQUIRE(types_of(abort) == "BS");
        h.upstream_sends(error_frame("26000", "prepared statement does not exist") + ready('I'));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "EZ");
        const auto e = error_of(replies[0]);
        CHECK(e.sqlstate == "54000");
        CHECK(e.message.starts_with("pgsieve: this UPDATE on table \"public.tickets\" was rolled back: it changed 3 "
                                    "rows, more than max_rows_written=2"));
        // The held Query goes on.
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        CHECK(h.s->upstream_output() == query("SELECT 1"));
    }
    SECTION("within the limit: the rows and completion, then the Sync's ReadyForQuery") {
        h.client_sends(query(write + " RETURNING id"));
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        h.s->upstream_output().clear();
        h.upstream_sends(frame('1', "") + frame('2', "") + frame('T', std::string(6, '\0')) + data_row("1") +
                         complete("UPDATE 1"));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(types_of(h.client_receives()) == "TD");
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "S");
        h.upstream_sends(ready('I'));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(types_of(h.client_receives()) == "CZ");
        CHECK_FALSE(h.s->waiting_for_upstream());
    }
    SECTION("an Execute over the limit: the failing Bind, and PostgreSQL skips the client's messages to its Sync") {
        h.client_sends(parse("", write) + bind("", "") + execute("") + frame('S', ""));
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "PBEH");  // the Sync waits
        h.upstream_sends(frame('1', "") + frame('2', "") + complete("UPDATE 5"));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(types_of(h.client_receives()) == "12");
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "B");
        h.upstream_sends(error_frame("26000", "prepared statement does not exist"));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "E");
        CHECK(error_of(replies[0]).sqlstate == "54000");
        REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
        CHECK(types_of(h.upstream_receives()) == "S");
        h.upstream_sends(ready('I'));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(types_of(h.client_receives()) == "Z");
        const auto outcomes = h.s->take_outcomes();
        const auto rolled = std::find_if(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.rolled_back; });
        REQUIRE(rolled != outcomes.end());
        CHECK(rolled->command_tag == "UPDATE 5");
        CHECK(std::none_of(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.error && !o.internal; }));
    }
    SECTION("attack: a trigger's NOTICEs while the count is awaited cannot grow the session") {
        h.client_sends(parse("", write) + bind("", "") + execute(""));
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        h.s->upstream_output().clear();
        std::string notice;
        {
            wire::error_fields n;
            n.severity = "NOTICE";
            n.sqlstate = "00000";
            n.message = std::string(100, 'n');
            wire::write_notice_response(notice, n);
        }
        std::string noisy = frame('1', "") + frame('2', "");
        for (int i = 0; i < 200000; ++i) noisy += notice;  // about 25 MB
        h.upstream_sends(noisy + complete("UPDATE 1"));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        CHECK(replies.back().type == 'C');
        CHECK(replies.size() < 200000);
        std::size_t bytes = 0;
        for (const auto& m : replies) bytes += m.body.size() + 5;
        CHECK(bytes <= (16u << 20) + 1024);
    }
    SECTION("a completion that does not count rows written is not committed") {
        h.client_sends(parse("", write) + bind("", "") + execute("", 1));
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        h.s->upstream_output().clear();
        h.upstream_sends(frame('1', "") + frame('2', "") + frame('s', ""));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "B");
        h.upstream_sends(error_frame("26000", "prepared statement does not exist"));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "12E");
        CHECK(error_of(replies[2]).message.find("execute it without a row limit") != std::string::npos);
    }
}

TEST_CASE("attack: a portal bound before a reload held its write cannot run under a ticket that does not bind its values",
          "[session][enforce][security]") {
    // Its parameter values were not kept (only a held write's are): a ticket
    // opened for it would bind the text alone, and approve any values.
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24, "    statements: [select, update]");
    yaml.replace(yaml.find("tables: {"), 9, "tables: {public.tickets: {allow: [select, update]}, ");
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    // Parse and Bind, then (before the Execute of the same pipeline) the reload.
    h.client_sends(parse("w", "UPDATE tickets SET subject = $1 WHERE id = 1") + bind("p", "w"));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    h.s->upstream_output().clear();

    yaml += "    approval: {statements: [update]}\n";
    test::fake_environment env;
    env.variables = {{"UP", "up-secret"}, {"CS", "cs-secret"}};
    auto reloaded = config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get());
    REQUIRE(reloaded);
    h.shared.policies.update(*reloaded, nullptr);

    h.client_sends(execute("p") + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = sent_upstream(h);
    REQUIRE(types_of(sent) == "ES");
    CHECK(sent[0].body.find("pgsieve_refused_") != std::string::npos);  // a portal that cannot exist
    h.upstream_sends(frame('1', "") + frame('2', "") + error_frame("34000", "portal does not exist") + ready());
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto replies = h.client_receives();
    REQUIRE(types_of(replies) == "12EZ");
    CHECK(error_of(replies[2]).sqlstate == "PA001");
    CHECK(error_of(replies[2]).message.find("cannot tell the exact text and parameter values") != std::string::npos);
}

TEST_CASE("enforce: in a fleet an approved write commits only once the central store gives it the ticket's use",
          "[session][enforce][security]") {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("    statements: [select]"), 24, "    statements: [select, update]");
    yaml.replace(yaml.find("tables: {"), 9, "tables: {public.tickets: {allow: [select, update]}, ");
    yaml += "    approval: {statements: [update]}\n";
    harness h(yaml);
    logged_in(h);
    const auto now = session::clock::now();
    const std::string write = "UPDATE tickets SET subject = 'x' WHERE id = 1";
    // Another replica opened the ticket; a person approved it.
    h.shared.approvals.set_fleet_wide(true);
    session::approval_ticket t;
    t.id = "AP-FLEET2";
    t.binding = {"cs_bot", h.shared.policies.current()->cfg->grants_version, write, ""};
    t.table = "public.tickets";
    t.command = "UPDATE";
    t.rows = 1;
    t.created = std::chrono::system_clock::now();
    t.timeout = std::chrono::minutes(1);
    t.expires = t.created + t.timeout;
    REQUIRE(h.shared.approvals.import(t, t.created) == session::approval_book::imported::added);
    REQUIRE(h.shared.approvals.decide(t.id, true, "", "ops_lead", t.created));

    h.client_sends(query(write));
    REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
    CHECK(types_of(h.upstream_receives()) == "PBDEH");
    h.upstream_sends(frame('1', "") + frame('2', "") + frame('n', "") + complete("UPDATE 1"));
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    // The count matches: the use is claimed first; nothing is committed or told meanwhile.
    const auto claim = h.s->take_approval_claim();
    REQUIRE(claim);
    CHECK(claim->ticket == "AP-FLEET2");
    CHECK(claim->rows == 1);
    CHECK_FALSE(h.s->take_approval_claim());
    CHECK(h.client_receives().empty());
    REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
    CHECK(h.upstream_receives().empty());

    SECTION("taken: the Sync commits it, and the ticket is used here too") {
        h.s->on_approval_claim(std::nullopt);
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "S");
        h.upstream_sends(ready('I'));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        CHECK(types_of(h.client_receives()) == "CZ");
        CHECK(h.shared.approvals.ticket("AP-FLEET2")->state == session::ticket_state::used);
    }
    SECTION("attack: used already through another replica: rolled back, and the client told why") {
        h.s->on_approval_claim("it was used already, through instance replica-b");
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        REQUIRE(h.s->relay_client(now) == session::relay_status::wait_upstream);
        CHECK(types_of(h.upstream_receives()) == "BS");
        h.upstream_sends(error_frame("26000", "prepared statement does not exist") + ready('I'));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        const auto replies = h.client_receives();
        REQUIRE(types_of(replies) == "EZ");
        CHECK(error_of(replies[0]).sqlstate == "PA003");
        CHECK(error_of(replies[0]).message.starts_with(
            "pgsieve: ticket AP-FLEET2 for this UPDATE on \"public.tickets\" cannot be used: it was used already, "
            "through instance replica-b; the write was rolled back"));
    }
}
