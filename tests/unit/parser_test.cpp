// SQL text → statement_facts: kinds, scopes, references, fail-closed unknowns.

#include <pgsieve/parser/parse.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve::parser;

namespace {

statement_facts one(std::string_view sql) {
    auto r = parse(sql);
    if (!r) FAIL("parse error: " << r.error().message);
    REQUIRE(r->size() == 1);
    return std::move((*r)[0]);
}

std::vector<std::string> joined(const std::vector<column_ref>& refs) {
    std::vector<std::string> out;
    for (const auto& r : refs) {
        std::string s;
        for (const auto& f : r.fields) s += (s.empty() ? "" : ".") + f;
        if (r.star) s += s.empty() ? "*" : ".*";
        out.push_back(s);
    }
    return out;
}

}  // namespace

TEST_CASE("parser: every statement of a multi-statement string, with its own text", "[parser]") {
    const auto r = parse("SELECT 1; COMMIT; DROP TABLE t");
    REQUIRE(r);
    REQUIRE(r->size() == 3);
    CHECK((*r)[0].kind == statement_kind::select);
    CHECK((*r)[1].kind == statement_kind::transaction);
    CHECK((*r)[1].transaction_kind == "commit");
    CHECK((*r)[2].kind == statement_kind::other);
    CHECK((*r)[2].node == "DropStmt");
    CHECK((*r)[2].text == " DROP TABLE t");
    CHECK(parse("-- only a comment")->empty());
}

TEST_CASE("parser: syntax errors carry PostgreSQL's message and position", "[parser]") {
    const auto r = parse("SELECT FROM WHERE");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "syntax error at or near \"WHERE\"");
    CHECK(r.error().position == 13);
}

TEST_CASE("parser: columns of every clause are recorded in their query", "[parser]") {
    const auto f = one("SELECT c.id, count(*) FILTER (WHERE c.plan = 'x') FROM public.customers c "
                       "WHERE c.ssn IS NOT NULL GROUP BY c.id HAVING max(c.email) > '' ORDER BY c.name");
    REQUIRE(f.root == 0);
    const auto& q = f.queries[0];
    CHECK(joined(q.columns) == std::vector<std::string>{"c.id", "c.plan", "c.ssn", "c.id", "c.email", "c.name"});
    CHECK(q.columns[1].where == clause::filter);
    CHECK(q.columns[2].where == clause::where);
    REQUIRE(q.ranges.size() == 1);
    CHECK(q.ranges[0].relation.schema == "public");
    CHECK(q.ranges[0].relation.name == "customers");
    CHECK(q.ranges[0].alias == "c");
    CHECK(f.functions.size() == 2);
}

TEST_CASE("parser: quoted, unquoted and Unicode-escaped identifiers as PostgreSQL stores them", "[parser]") {
    const auto f = one(R"(SELECT "SSN", Email, U&"\0073sn" FROM "Public".CUSTOMERS)");
    CHECK(joined(f.queries[0].columns) == std::vector<std::string>{"SSN", "email", "ssn"});
    CHECK(f.queries[0].ranges[0].relation.schema == "Public");
    CHECK(f.queries[0].ranges[0].relation.name == "customers");
}

TEST_CASE("parser: sub-queries, derived tables, LATERAL and CTEs are scopes of their own", "[parser]") {
    const auto f = one("WITH recursive r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
                       "SELECT s.x, (SELECT max(id) FROM t2 WHERE t2.k = s.x) FROM (SELECT a AS x FROM t1) s, "
                       "LATERAL (SELECT s.x) l, r");
    CHECK(f.queries.size() >= 5);
    const auto& top = f.queries[f.root];
    REQUIRE(top.ctes.size() == 1);
    CHECK(top.ctes[0].name == "r");
    CHECK(top.ctes[0].column_aliases == std::vector<std::string>{"n"});
    CHECK(top.recursive);
    bool lateral = false;
    for (const auto& e : top.ranges) lateral = lateral || e.lateral;
    CHECK(lateral);
    // The derived table's output names come from its target list.
    for (const auto& e : top.ranges) {
        if (e.type == range_entry::kind::subquery && e.alias == "s") {
            REQUIRE(f.queries[e.subquery].targets.size() == 1);
            CHECK(f.queries[e.subquery].targets[0].name == "x");
        }
    }
}

TEST_CASE("parser: whole-row references are marked", "[parser]") {
    const auto f = one("SELECT t, t::text, row_to_json(t), (t).a FROM t");
    const auto& cols = f.queries[0].columns;
    REQUIRE(cols.size() == 4);
    CHECK_FALSE(cols[0].whole_row_candidate);  // a bare t may be a column; policy decides
    CHECK(cols[1].whole_row_candidate);
    CHECK(cols[3].whole_row_candidate);
}

TEST_CASE("parser: flags the policy needs", "[parser]") {
    CHECK(one("SELECT * INTO new_table FROM t").select_into);
    CHECK(one("SELECT * FROM t FOR UPDATE").locking_clause);
    CHECK(one("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").data_modifying_cte);
    const auto ex = one("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t");
    CHECK(ex.kind == statement_kind::explain);
    CHECK(ex.explain_analyze);
    REQUIRE(ex.inner.size() == 1);
    CHECK(ex.inner[0].kind == statement_kind::delete_);
    CHECK_FALSE(one("EXPLAIN (ANALYZE false) SELECT 1").explain_analyze);
    CHECK(one("EXPLAIN ANALYZE SELECT 1").explain_analyze);
}

TEST_CASE("parser: plumbing statements", "[parser]") {
    CHECK(one("SET search_path = public").parameter == "search_path");
    CHECK(one("SET LOCAL statement_timeout = 5").set_local);
    CHECK(one("RESET ALL").parameter == "all");
    CHECK(one("SHOW TimeZone").parameter == "timezone");
    CHECK(one("BEGIN READ WRITE").read_write);
    CHECK_FALSE(one("BEGIN READ ONLY").read_write);
    CHECK(one("SET TRANSACTION READ WRITE").kind == statement_kind::set_transaction);
    CHECK(one("SET TRANSACTION READ WRITE").read_write);
    CHECK(one("START TRANSACTION ISOLATION LEVEL SERIALIZABLE").transaction_kind == "start");
    const auto prep = one("PREPARE q(int) AS SELECT * FROM t WHERE id = $1");
    CHECK(prep.object_name == "q");
    REQUIRE(prep.inner.size() == 1);
    CHECK(prep.inner[0].kind == statement_kind::select);
    CHECK(one("EXECUTE q(1)").object_name == "q");
    CHECK(one("DEALLOCATE ALL").object_name.empty());
    CHECK(one("DECLARE c CURSOR FOR SELECT 1").inner.size() == 1);
    CHECK(one("FETCH 10 FROM c").object_name == "c");
    CHECK(one("CLOSE ALL").object_name.empty());
    CHECK(one("DISCARD ALL").discard_kind == "all");
}

TEST_CASE("parser: COPY directions", "[parser]") {
    const auto to_stdout = one("COPY customers (id, name) TO STDOUT");
    CHECK_FALSE(to_stdout.copy_from);
    CHECK_FALSE(to_stdout.copy_to_file);
    CHECK(to_stdout.written_columns == std::vector<std::string>{"id", "name"});
    CHECK(one("COPY customers FROM STDIN").copy_from);
    CHECK(one("COPY customers TO '/tmp/x'").copy_to_file);
    CHECK(one("COPY (SELECT 1) TO PROGRAM 'cat'").copy_to_file);
    CHECK(one("COPY (SELECT ssn FROM customers) TO STDOUT").inner.size() == 1);
}

TEST_CASE("parser: DML targets, written columns and reads", "[parser]") {
    const auto ins = one("INSERT INTO tickets (customer_id, subject) SELECT id, name FROM customers RETURNING id");
    CHECK(ins.kind == statement_kind::insert);
    CHECK(ins.target_relation.name == "tickets");
    CHECK(ins.written_columns == std::vector<std::string>{"customer_id", "subject"});
    const auto upd = one("UPDATE t SET a = b + 1 FROM u WHERE t.id = u.id RETURNING t.*");
    CHECK(upd.kind == statement_kind::update);
    CHECK(upd.written_columns == std::vector<std::string>{"a"});
    CHECK(joined(upd.queries[upd.root].columns) == std::vector<std::string>{"b", "t.id", "u.id", "t.*"});
    const auto del = one("DELETE FROM t USING u WHERE t.id = u.id");
    CHECK(del.kind == statement_kind::delete_);
    CHECK(del.queries[del.root].ranges.size() == 1);
}

TEST_CASE("parser: what the walker does not understand is recorded, not skipped", "[parser][security]") {
    CHECK_FALSE(one("MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE").unknown.empty());
    CHECK_FALSE(one("SELECT * FROM other_db.public.t").unknown.empty());
    CHECK_FALSE(one("SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int)").unknown.empty());
    CHECK(one("SELECT 1").unknown.empty());
}

TEST_CASE("attack: both arms of a set operation are walked", "[parser][security]") {
    const auto f = one("SELECT a FROM t1 UNION SELECT b FROM t2");
    const auto& top = f.queries[f.root];
    REQUIRE(top.set_left >= 0);
    REQUIRE(top.set_right >= 0);
    CHECK(joined(f.queries[top.set_left].columns) == std::vector<std::string>{"a"});
    CHECK(joined(f.queries[top.set_right].columns) == std::vector<std::string>{"b"});
    CHECK(f.relations.size() == 2);
    CHECK(f.unknown.empty());
}

TEST_CASE("parser: normalized text and character positions", "[parser]") {
    CHECK(normalize("SELECT * FROM t WHERE name = 'secret'") == "SELECT * FROM t WHERE name = $1");
    CHECK(character_position("SELECT 'é' , x", 13) == 13);
    CHECK(character_position("SELECT 'é', x", 13) == 13);
}
