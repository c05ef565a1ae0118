// The statement registry through the session, with scripted bytes: every
// prepared statement and portal, however it was made (Parse, PREPARE, Bind,
// DECLARE), is decided again after a reload wherever it runs (Bind, Execute,
// EXECUTE, FETCH); names change only when PostgreSQL confirms; a name the
// session does not hold is refused, never forwarded undecided.

#include "session_support.hpp"

#include <pgsieve/wire/backend.hpp>

using namespace pgsieve;
using namespace pgsieve::test;

namespace {

const auto now = session::clock::now();

// Reloads the policy without customers.name (only id stays readable).
void reload_without_name(harness& h) {
    std::string yaml = session_yaml;
    yaml.replace(yaml.find("columns: [id, name]"), 19, "columns: [id]");
    fake_environment env;
    env.variables = {{"UP", "up-secret"}, {"CS", "cs-secret"}};
    h.shared.policies.update(*config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get()), nullptr);
}

// The client sends `bytes`; returns what was forwarded upstream.
std::vector<message> relay(harness& h, std::string_view bytes) {
    h.client_sends(bytes);
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    return h.upstream_receives();
}

// PostgreSQL answers `bytes`; returns what the client got.
std::vector<message> answer(harness& h, std::string_view bytes) {
    h.upstream_sends(bytes);
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    return h.client_receives();
}

bool refused_upstream(const std::vector<message>& sent) {
    for (const auto& m : sent) {
        if (m.body.find("pgsieve refused") != std::string::npos || m.body.find("pgsieve_refused_") != std::string::npos)
            return true;
    }
    return false;
}

std::string describe(char kind, std::string_view name) {
    std::string out;
    wire::message_writer(out).begin('D').byte(kind).cstring(name).end();
    return out;
}

std::string sync_message() { return frame('S', ""); }

const std::string parse_complete = frame('1', "");
const std::string bind_complete = frame('2', "");

// A refusal's ErrorResponse, as the client sees it.
wire::received_error refusal_in(const std::vector<message>& received) {
    for (const auto& m : received) {
        if (m.type == 'E') return error_of(m);
    }
    FAIL("no ErrorResponse");
    return {};
}

}  // namespace

TEST_CASE("attack: Bind of an SQL PREPAREd name after a reload that removes a column is refused",
          "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, query("PREPARE p AS SELECT name FROM customers"));
    answer(h, complete("PREPARE") + ready());
    reload_without_name(h);
    const auto sent = relay(h, bind("", "p") + execute("") + sync_message());
    CHECK(refused_upstream(sent));
    const auto got = answer(h, error_frame("26000", "prepared statement does not exist") + ready());
    const auto e = refusal_in(got);
    CHECK(e.sqlstate == "42501");
    CHECK_THAT(e.message, Catch::Matchers::Contains("prepared statement \"p\" is not allowed now"));
    CHECK_THAT(e.message, Catch::Matchers::Contains("column \"name\""));
}

TEST_CASE("attack: Execute of a DECLARE … WITH HOLD cursor's portal after a reload is refused",
          "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, query("BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT name FROM customers; COMMIT"));
    answer(h, complete("BEGIN") + complete("DECLARE CURSOR") + complete("COMMIT") + ready());
    CHECK(h.s->registry().size(session::name_space::portal) == 1);  // held past its transaction
    reload_without_name(h);
    CHECK(refused_upstream(relay(h, execute("c") + sync_message())));
    // And through SQL FETCH.
    answer(h, error_frame("34000", "portal does not exist") + ready());
    CHECK(refused_upstream(relay(h, query("FETCH ALL FROM c"))));
}

TEST_CASE("attack: SQL FETCH from a protocol portal after a reload is refused", "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, query("BEGIN"));
    answer(h, complete("BEGIN") + ready('T'));
    relay(h, parse("s", "SELECT name FROM customers") + bind("pp", "s") + sync_message());
    answer(h, parse_complete + bind_complete + ready('T'));
    CHECK(relay(h, query("FETCH 1 FROM pp")).front().body.find("FETCH 1 FROM pp") != std::string::npos);
    answer(h, complete("FETCH 1") + ready('T'));
    reload_without_name(h);
    CHECK(refused_upstream(relay(h, query("FETCH 1 FROM pp"))));
}

TEST_CASE("attack: DISCARD ALL refused by PostgreSQL in a transaction forgets no name", "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, parse("s", "SELECT name FROM customers") + sync_message());
    answer(h, parse_complete + ready());
    relay(h, query("BEGIN; DISCARD ALL"));
    // PostgreSQL: DISCARD ALL cannot run inside a transaction block.
    answer(h, complete("BEGIN") + error_frame("25001", "DISCARD ALL cannot run inside a transaction block") + ready('E'));
    relay(h, query("ROLLBACK"));
    answer(h, complete("ROLLBACK") + ready());
    CHECK(h.s->registry().size(session::name_space::statement) == 1);
    reload_without_name(h);
    CHECK(refused_upstream(relay(h, bind("", "s") + execute("") + sync_message())));
}

TEST_CASE("attack: a second Parse of an existing name is refused by PostgreSQL, which keeps the first text",
          "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, parse("s", "SELECT name FROM customers") + sync_message());
    answer(h, parse_complete + ready());
    relay(h, parse("s", "SELECT 1") + sync_message());
    answer(h, error_frame("42P05", "prepared statement \"s\" already exists") + ready());
    reload_without_name(h);
    // The first text is what would run: it is decided, and refused.
    CHECK(refused_upstream(relay(h, bind("", "s") + execute("") + sync_message())));
    answer(h, error_frame("26000", "x") + ready());
    // The audit row names the text that was decided.
    const auto outcomes = h.s->take_outcomes();
    bool bind_audited = false;
    for (const auto& o : outcomes) {
        if (o.kind == session::request_kind::bind) {
            CHECK(o.sql == "SELECT name FROM customers");
            bind_audited = true;
        }
    }
    CHECK(bind_audited);
}

TEST_CASE("attack: a pipelined re-PREPARE and EXECUTE can never run a text pgsieve did not decide",
          "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, query("PREPARE p AS SELECT name FROM customers"));
    answer(h, complete("PREPARE") + ready());
    reload_without_name(h);
    // Not waiting for the answers: PREPARE p again (which PostgreSQL will
    // refuse: p exists), then EXECUTE p, which runs the old text.
    const auto sent = relay(h, query("PREPARE p AS SELECT id FROM customers") + query("EXECUTE p"));
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].body.find("PREPARE p AS SELECT id") != std::string::npos);
    CHECK(sent[1].body.find("pgsieve refused") != std::string::npos);
}

TEST_CASE("attack: EXECUTE after a reload is refused for the reason that applies", "[session][registry][security]") {
    harness h;
    logged_in(h);
    relay(h, query("PREPARE q AS SELECT name FROM customers"));
    answer(h, complete("PREPARE") + ready());
    reload_without_name(h);
    CHECK(refused_upstream(relay(h, query("EXECUTE q"))));
    const auto e = refusal_in(answer(h, error_frame("42601", "syntax error") + ready()));
    CHECK_THAT(e.message, Catch::Matchers::Contains("prepared statement \"q\" is no longer allowed"));
    CHECK_THAT(e.message, Catch::Matchers::Contains("column \"name\""));
}

TEST_CASE("attack: names the session does not hold are refused, never forwarded", "[session][registry][security]") {
    harness h;
    logged_in(h);
    CHECK(refused_upstream(relay(h, bind("", "never_parsed") + sync_message())));
    answer(h, error_frame("26000", "x") + ready());
    CHECK(refused_upstream(relay(h, execute("never_bound") + sync_message())));
    answer(h, error_frame("34000", "x") + ready());
    CHECK(refused_upstream(relay(h, describe('S', "never_parsed") + sync_message())));
    answer(h, error_frame("26000", "x") + ready());
    CHECK(refused_upstream(relay(h, query("EXECUTE never_prepared"))));
    answer(h, error_frame("42601", "x") + ready());
    CHECK(refused_upstream(relay(h, query("FETCH 1 FROM never_declared"))));
}

TEST_CASE("registry: a portal without HOLD ends with its transaction", "[session][registry]") {
    harness h;
    logged_in(h);
    relay(h, parse("s", "SELECT id FROM customers") + bind("pp", "s") + sync_message());
    answer(h, parse_complete + bind_complete + ready());  // an implicit transaction: it ended at Sync
    CHECK(h.s->registry().size(session::name_space::portal) == 0);
    CHECK(refused_upstream(relay(h, execute("pp") + sync_message())));
}

TEST_CASE("registry: a DECLARE that PostgreSQL refuses creates no cursor", "[session][registry]") {
    harness h;
    logged_in(h);
    relay(h, query("DECLARE c CURSOR FOR SELECT id FROM customers"));
    answer(h, error_frame("25P01", "DECLARE CURSOR can only be used in transaction blocks") + ready());
    CHECK(h.s->registry().size(session::name_space::portal) == 0);
}

TEST_CASE("attack: a reply that matches no request closes the connection", "[session][registry][security]") {
    harness h;
    logged_in(h);
    h.upstream_sends(complete("SELECT 1"));
    CHECK(h.s->relay_upstream(now) == session::relay_status::close);
    const auto fatal = h.s->take_final_client_output();
    REQUIRE_FALSE(fatal.empty());
    std::string copy = fatal;
    CHECK(error_of(take_frames(copy).at(0)).sqlstate == "08P01");
}

TEST_CASE("audit: a Query PostgreSQL skipped after an earlier error is recorded as not run", "[session][audit]") {
    harness h;
    logged_in(h);
    relay(h, parse("", "SELECT nosuch FROM customers") + query("SELECT id FROM customers") + sync_message());
    answer(h, error_frame("42703", "column does not exist") + ready());
    const auto records = h.s->take_audit_records(std::chrono::system_clock::now());
    bool skipped = false;
    for (const auto& r : records) {
        if (const auto* s = std::get_if<audit::statement>(&r); s && s->sql == "SELECT id FROM customers") {
            CHECK_THAT(s->error, Catch::Matchers::Contains("not run"));
            CHECK(s->command_tag.empty());
            skipped = true;
        }
    }
    CHECK(skipped);
}

TEST_CASE("transparency: PostgreSQL's own FATAL is not followed by a second one from pgsieve", "[session]") {
    harness h;
    logged_in(h);
    relay(h, query("SELECT id FROM customers"));
    const auto got = answer(h, error_frame("57P01", "terminating connection due to administrator command", "FATAL"));
    REQUIRE(got.size() == 1);
    h.s->on_upstream_closed();
    CHECK(h.s->take_final_client_output().empty());
}

TEST_CASE("robustness: a 2 MB DataRow streams through without being buffered whole", "[session]") {
    harness h;
    logged_in(h);
    relay(h, query("SELECT name FROM customers"));
    const std::string row = data_row(std::string(2 << 20, 'x'));
    std::size_t relayed = 0;
    std::size_t largest_buffer = 0;
    for (std::size_t at = 0; at < row.size(); at += 16 * 1024) {
        h.upstream_sends(std::string_view(row).substr(at, 16 * 1024));
        REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
        largest_buffer = std::max(largest_buffer, h.s->upstream_input().size());
        relayed += h.s->client_output().size();
        h.s->client_output().clear();
    }
    CHECK(relayed == row.size());
    CHECK(largest_buffer < 64 * 1024);
    const auto got = answer(h, complete("SELECT 1") + ready());
    CHECK(types_of(got) == "CZ");
    const auto outcomes = h.s->take_outcomes();
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].rows == 1);
    CHECK(outcomes[0].bytes == row.size());
}

TEST_CASE("registry: a refused Parse pipelined with Bind, Describe and Execute stays in lockstep", "[session][registry]") {
    harness h;
    logged_in(h);
    const auto sent = relay(h, parse("", "SELECT ssn FROM customers") + bind("", "") + describe('P', "") + execute("") +
                                   sync_message());
    CHECK(types_of(sent) == "PBDES");
    h.upstream_sends(error_frame("42601", "syntax error") + ready());
    CHECK(h.s->relay_upstream(now) == session::relay_status::keep_going);
    CHECK(types_of(h.client_receives()) == "EZ");
}

TEST_CASE("relay: messages a client sends after PostgreSQL's error but before its Sync are skipped, not desynced",
          "[session][registry]") {
    harness h;
    logged_in(h);
    relay(h, parse("", "SELECT ssn FROM customers"));
    // PostgreSQL's error arrives before the rest of the pipeline is sent.
    h.upstream_sends(error_frame("42601", "syntax error"));
    REQUIRE(h.s->relay_upstream(now) == session::relay_status::keep_going);
    relay(h, bind("", "") + describe('P', "") + execute("") + query("SELECT id FROM customers") + sync_message());
    h.upstream_sends(ready());
    CHECK(h.s->relay_upstream(now) == session::relay_status::keep_going);
    const auto outcomes = h.s->take_outcomes();
    std::size_t skipped = 0;
    for (const auto& o : outcomes) skipped += o.skipped;
    CHECK(skipped == 4);
}

TEST_CASE("registry: within one batch a pending change is certain: ROLLBACK after a refused FETCH runs",
          "[session][registry]") {
    harness h;
    logged_in(h);
    relay(h, query("BEGIN; DECLARE c CURSOR FOR SELECT name FROM customers"));
    answer(h, complete("BEGIN") + complete("DECLARE CURSOR") + ready('T'));
    relay(h, parse("", "FETCH 1 FROM c") + bind("", "") + execute("") + sync_message());
    answer(h, parse_complete + bind_complete + data_row("Acme Corp") + complete("FETCH 1") + ready('T'));
    reload_without_name(h);
    CHECK(refused_upstream(relay(h, parse("", "FETCH 1 FROM c") + bind("", "") + execute("") + sync_message())));
    answer(h, error_frame("42601", "syntax error") + ready('E'));
    // The unnamed statement and portal are replaced in this batch: the old
    // FETCH can no longer run, so the ROLLBACK is not refused on its account.
    const auto sent = relay(h, parse("", "ROLLBACK") + bind("", "") + execute("") + sync_message());
    CHECK_FALSE(refused_upstream(sent));
}

TEST_CASE("attack: a session cannot hold more named statements than pgsieve keeps", "[session][registry][security]") {
    harness h;
    logged_in(h);
    const auto now = session::clock::now();
    std::string parses;
    for (std::size_t i = 0; i <= session::max_named_per_session; ++i)
        parses += parse("s" + std::to_string(i), "SELECT id FROM customers");
    h.client_sends(parses + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    const auto sent = h.upstream_receives();
    REQUIRE(sent.size() == session::max_named_per_session + 2);
    CHECK(sent[session::max_named_per_session - 1].body.find("SELECT id FROM customers") != std::string::npos);
    CHECK(sent[session::max_named_per_session].body.find("pgsieve refused this statement") != std::string::npos);
    // Re-preparing a name already held is not a new one.
    h.client_sends(parse("s1", "SELECT name FROM customers") + frame('S', ""));
    REQUIRE(h.s->relay_client(now) == session::relay_status::keep_going);
    CHECK(h.s->upstream_output().find("SELECT name FROM customers") != std::string::npos);
}

namespace {

const std::string introspection_yaml = R"(listen: {max_message_bytes: 65536}
upstream: {host: db.internal, port: 5432, database: app, user: ai_readonly, password_env: UP, sslmode: disable}
audit: {sqlite: /a.db}
clients:
  - {name: cs_bot, password_env: CS, policy: reader, max_connections: 1}
policies:
  reader:
    statements: [select]
    catalog: introspection
    tables: {public.customers: {columns: [id, name]}, public.tickets: {}}
)";

std::shared_ptr<const policy::catalog> catalog_with_pg_class() {
    return std::make_shared<const policy::catalog>(
        std::vector<policy::relation_info>{{"public", "customers", 'r', {"id", "name", "ssn"}},
                                           {"public", "tickets", 'r', {"id", "subject"}},
                                           {"pg_catalog", "pg_class", 'r', {"oid", "relname"}}},
        std::vector<policy::function_info>{}, std::vector<policy::operator_info>{});
}

void load_policy(harness& h, const std::string& yaml) {
    fake_environment env;
    env.variables = {{"UP", "up-secret"}, {"CS", "cs-secret"}};
    h.shared.policies.update(*config::load_text(yaml, "/etc/pgsieve/pgsieve.yaml", env.get()), catalog_with_pg_class());
}

}  // namespace

TEST_CASE("attack: a discovery statement prepared before a reload that narrows the policy cannot run its old scope",
          "[session][registry][security]") {
    // The registry held the client's text, PostgreSQL the scoped text with
    // the visible sets baked in: EXECUTE after the reload still listed
    // what the policy no longer granted.
    std::string narrowed = introspection_yaml;
    narrowed.replace(narrowed.find(", public.tickets: {}"), 20, "");
    for (const bool sql_prepare : {false, true}) {
        CAPTURE(sql_prepare);
        harness h(introspection_yaml);
        load_policy(h, introspection_yaml);
        logged_in(h);
        if (sql_prepare) {
            const auto sent = relay(h, query("PREPARE p AS SELECT relname FROM pg_class"));
            REQUIRE(sent.size() == 1);
            CHECK(sent[0].body.find("tickets") != std::string::npos);  // scoped: the grant is in the text
            answer(h, complete("PREPARE") + ready());
        } else {
            const auto sent = relay(h, parse("p", "SELECT relname FROM pg_class") + sync_message());
            CHECK(sent[0].body.find("tickets") != std::string::npos);
            answer(h, parse_complete + ready());
        }
        // Unchanged policy, reloaded: still runs.
        load_policy(h, introspection_yaml);
        const auto run = sql_prepare ? query("EXECUTE p") : bind("", "p") + execute("") + sync_message();
        CHECK_FALSE(refused_upstream(relay(h, run)));
        answer(h, sql_prepare ? complete("SELECT 0") + ready() : bind_complete + complete("SELECT 0") + ready());
        // Narrowed: refused, with what to do.
        load_policy(h, narrowed);
        CHECK(refused_upstream(relay(h, run)));
        const auto got = answer(h, error_frame("26000", "prepared statement does not exist") + ready());
        const auto e = refusal_in(got);
        CHECK_THAT(e.message, Catch::Matchers::Contains("prepared statement \"p\" is not allowed now"));
        CHECK_THAT(e.message, Catch::Matchers::Contains("prepare it again"));
    }
}

TEST_CASE("attack: prepared discovery statements are counted with the scoped text they keep",
          "[session][registry][security]") {
    // Each entry keeps its decision, whose scoped text is tens of KiB for a
    // discovery statement: 4096 of them held ~200 MB while only the
    // client's text counted against max_prepared_text_bytes.
    harness h(introspection_yaml);
    load_policy(h, introspection_yaml);
    logged_in(h);
    const std::string sql = "SELECT relname FROM pg_class";
    relay(h, query("PREPARE p AS " + sql));
    answer(h, complete("PREPARE") + ready());
    relay(h, parse("q", sql) + sync_message());
    answer(h, parse_complete + ready());
    const auto held = h.s->registry().prepared_text_bytes();
    CHECK(held > 2 * sql.size() + 2000);  // both scoped texts, not just the two client texts
}
