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
    CHECK((*r)[1].transaction == transaction_kind::commit);
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
    // Structure first (targets, GROUP BY, ORDER BY), then the clauses walked by role (WHERE, HAVING).
    CHECK(joined(q.columns) == std::vector<std::string>{"c.id", "c.plan", "c.id", "c.name", "c.ssn", "c.email"});
    CHECK(q.columns[1].where == clause::filter);
    CHECK(q.columns[4].where == clause::where);
    CHECK(q.columns[5].where == clause::function_argument);  // max(c.email) in HAVING
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

TEST_CASE("parser: whole-row references are recorded as names, for resolution to decide", "[parser]") {
    const auto f = one("SELECT t, t::text, row_to_json(t), (t).a FROM t");
    CHECK(joined(f.queries[0].columns) == std::vector<std::string>{"t", "t", "t", "t"});
}

TEST_CASE("parser: ORDER BY, DISTINCT ON and GROUP BY bare names are marked; expressions are not", "[parser]") {
    const auto f = one("SELECT DISTINCT ON (a) a, b AS x FROM t GROUP BY a, b ORDER BY x, b + 1");
    std::vector<std::string> bare;
    for (const auto& c : f.queries[0].columns) {
        if (c.bare_sort_key) bare.push_back(c.fields.back() + "@" + std::to_string(static_cast<int>(c.where)));
    }
    CHECK(bare.size() == 4);  // DISTINCT ON a, GROUP BY a and b, ORDER BY x; not b + 1
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
    CHECK(one("START TRANSACTION ISOLATION LEVEL SERIALIZABLE").transaction == transaction_kind::start);
    const auto prep = one("PREPARE q(int) AS SELECT * FROM t WHERE id = $1");
    CHECK(prep.object_name == "q");
    REQUIRE(prep.inner.size() == 1);
    CHECK(prep.inner[0].kind == statement_kind::select);
    CHECK(one("EXECUTE q(1)").object_name == "q");
    CHECK(one("DEALLOCATE ALL").object_name.empty());
    CHECK(one("DECLARE c CURSOR FOR SELECT 1").inner.size() == 1);
    CHECK(one("FETCH 10 FROM c").object_name == "c");
    CHECK(one("CLOSE ALL").object_name.empty());
    CHECK(one("DISCARD ALL").discard == discard_kind::all);
    CHECK(one("DECLARE c CURSOR WITH HOLD FOR SELECT 1").cursor_with_hold);
    // The wrapped query's own text, which the session decides again after a reload.
    CHECK(one("PREPARE q (int, text) AS SELECT $1 AS x").inner.at(0).text == "SELECT $1 AS x");
    CHECK(one("DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1 FOR UPDATE").inner.at(0).text == "SELECT 1 FOR UPDATE");
    CHECK_FALSE(one("DECLARE c CURSOR FOR SELECT 1").cursor_with_hold);
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
    auto columns = joined(upd.queries[upd.root].columns);
    std::sort(columns.begin(), columns.end());
    CHECK(columns == std::vector<std::string>{"b", "t.*", "t.id", "u.id"});
    const auto del = one("DELETE FROM t USING u WHERE t.id = u.id");
    CHECK(del.kind == statement_kind::delete_);
    CHECK(del.queries[del.root].ranges.size() == 1);
}

TEST_CASE("parser: what the walker does not understand is recorded, not skipped", "[parser][security]") {
    CHECK_FALSE(one("MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE").unsupported.empty());
    CHECK_FALSE(one("SELECT * FROM other_db.public.t").unsupported.empty());
    CHECK_FALSE(one("SELECT * FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int)").unsupported.empty());
    CHECK_FALSE(one("UPDATE t SET a = 1 WHERE CURRENT OF c").unsupported.empty());
    CHECK_FALSE(one("SELECT * FROM t TABLESAMPLE system_rows(10)").unsupported.empty());
    CHECK(one("SELECT 1").unsupported.empty());
}

TEST_CASE("attack: both arms of a set operation are walked", "[parser][security]") {
    const auto f = one("SELECT a FROM t1 UNION SELECT b FROM t2");
    const auto& top = f.queries[f.root];
    REQUIRE(top.set_left >= 0);
    REQUIRE(top.set_right >= 0);
    CHECK(joined(f.queries[top.set_left].columns) == std::vector<std::string>{"a"});
    CHECK(joined(f.queries[top.set_right].columns) == std::vector<std::string>{"b"});
    CHECK(f.relations.size() == 2);
    CHECK(f.unsupported.empty());
}

TEST_CASE("attack: a VALUES list's ORDER BY, LIMIT and OFFSET are walked", "[parser][security]") {
    const auto f = one("VALUES (1), (2) ORDER BY (SELECT a FROM t1) LIMIT (SELECT ssn::int FROM customers LIMIT 1) "
                       "OFFSET (SELECT pg_read_file('x'))");
    CHECK(f.unsupported.empty());
    CHECK(f.relations.size() == 2);
    std::vector<std::string> functions;
    for (const auto& fn : f.functions) functions.push_back(fn.name.back());
    CHECK(functions == std::vector<std::string>{"pg_read_file"});
    bool ssn = false;
    for (const auto& q : f.queries) {
        for (const auto& c : q.columns) ssn = ssn || (c.fields == std::vector<std::string>{"ssn"});
    }
    CHECK(ssn);
}

TEST_CASE("attack: every field of a SELECT is walked whatever its shape", "[parser][security]") {
    // Each clause holds a sub-query reading one marker column; all must be seen.
    const char* shapes[] = {
        "SELECT 1 FROM t GROUP BY (SELECT m FROM s)",
        "SELECT 1 FROM t HAVING (SELECT m FROM s) > 0",
        "SELECT 1 FROM t WINDOW w AS (ORDER BY (SELECT m FROM s))",
        "SELECT count(*) OVER (PARTITION BY (SELECT m FROM s)) FROM t",
        "SELECT DISTINCT ON ((SELECT m FROM s)) 1 FROM t",
        "SELECT 1 UNION SELECT 2 ORDER BY 1 LIMIT (SELECT m FROM s)",
        "SELECT array_agg(x ORDER BY (SELECT m FROM s)) FROM t",
        "SELECT count(*) FILTER (WHERE (SELECT m FROM s) > 0) FROM t",
        "SELECT * FROM t TABLESAMPLE bernoulli ((SELECT m FROM s))",
        "SELECT * FROM generate_series(1, (SELECT m FROM s))",
        "SELECT * FROM t JOIN u ON (SELECT m FROM s) > 0",
        "SELECT xmlelement(name a, xmlattributes((SELECT m FROM s) AS b))",
        "INSERT INTO t SELECT 1 ON CONFLICT (a) DO UPDATE SET a = (SELECT m FROM s)",
        "INSERT INTO t VALUES (1) ON CONFLICT (a) WHERE (SELECT m FROM s) > 0 DO NOTHING",
        "UPDATE t SET (a, b) = (SELECT m, m FROM s)",
        "DELETE FROM t WHERE a = 1 RETURNING (SELECT m FROM s)",
        "EXECUTE q((SELECT m FROM s))",
        "SELECT 1 FROM t LIMIT 1 OFFSET (SELECT m FROM s)",
        "SELECT CASE (SELECT m FROM s) WHEN 1 THEN 2 END",
        "SELECT (SELECT m FROM s)::text COLLATE \"C\"",
        "SELECT (ARRAY[(SELECT m FROM s)])[1:2]",
    };
    for (const auto* sql : shapes) {
        INFO(sql);
        const auto f = one(sql);
        CHECK(f.unsupported.empty());
        bool marker = false;
        for (const auto& q : f.queries) {
            for (const auto& c : q.columns) marker = marker || (c.fields == std::vector<std::string>{"m"});
        }
        CHECK(marker);
        bool s_seen = false;
        for (const auto& r : f.relations) s_seen = s_seen || r.name == "s";
        CHECK(s_seen);
    }
}

TEST_CASE("attack: operators PostgreSQL implies are recorded", "[parser][security]") {
    const auto implicit_names = [](std::string_view sql) {
        std::vector<std::string> out;
        for (const auto& op : one(sql).operators) {
            if (op.implicit) out.push_back(op.name.back());
        }
        return out;
    };
    CHECK(implicit_names("SELECT CASE a WHEN 1 THEN 2 END FROM t") == std::vector<std::string>{"="});
    CHECK(implicit_names("SELECT a FROM t WHERE a BETWEEN 1 AND 2") == std::vector<std::string>{">=", "<="});
    CHECK(implicit_names("SELECT a FROM t WHERE a IN (1, 2)") == std::vector<std::string>{"="});
    CHECK(implicit_names("SELECT a FROM t ORDER BY a") == std::vector<std::string>{"<"});
    CHECK(implicit_names("SELECT a FROM t WHERE a IN (SELECT b FROM u)") == std::vector<std::string>{"="});
    CHECK(!implicit_names("SELECT DISTINCT a FROM t").empty());
    CHECK(!implicit_names("SELECT a FROM t GROUP BY a").empty());
    const auto using_op = one("SELECT a FROM t ORDER BY a USING OPERATOR(public.<<<)");
    REQUIRE(using_op.operators.size() == 1);
    CHECK(using_op.operators[0].name == std::vector<std::string>{"public", "<<<"});
}

TEST_CASE("attack: casts, typed literals and PREPARE parameter types are recorded as conversions", "[parser][security]") {
    const auto f = one("SELECT 'x'::mydomain, CAST(1 AS public.other), mydomain '1'");
    REQUIRE(f.types.size() == 3);
    CHECK(f.types[0].name == std::vector<std::string>{"mydomain"});
    CHECK(f.types[1].name == std::vector<std::string>{"public", "other"});
    CHECK(one("PREPARE p(mydomain) AS SELECT $1").types.size() == 1);
}

TEST_CASE("attack: a statement too deeply nested for the stack is refused, never a crash", "[parser][security]") {
    // 70,000 terms once overflowed a worker's stack inside libpg_query.
    std::string sum = "SELECT 1";
    for (int i = 0; i < 70000; ++i) sum += "+1";
    const auto r = parse(sum);
    REQUIRE_FALSE(r);
    CHECK(r.error().type == parse_error::kind::too_deep);
    std::string parens = "SELECT ";
    for (int i = 0; i < 3000; ++i) parens += "(1+";
    parens += "1";
    for (int i = 0; i < 3000; ++i) parens += ")";
    CHECK_FALSE(parse(parens));  // refused one way or another, never a crash
    std::string modest = "SELECT ";
    for (int i = 0; i < 200; ++i) modest += "(1+";
    modest += "1";
    for (int i = 0; i < 200; ++i) modest += ")";
    CHECK(parse(modest));  // real queries nest far less
}

TEST_CASE("parser: FROM functions keep their column definition lists and ordinality", "[parser]") {
    const auto f = one("SELECT * FROM ROWS FROM (generate_series(1, 2), json_to_record('{}') AS (a int, b text)) "
                       "WITH ORDINALITY AS g");
    const auto& range = f.queries[0].ranges.at(0);
    REQUIRE(range.functions.size() == 2);
    CHECK(range.functions[0].name.back() == "generate_series");
    CHECK(range.functions[0].arguments == 2);
    CHECK(range.function_columns[1] == std::vector<std::string>{"a", "b"});
    CHECK(range.ordinality);
    CHECK(range.functions[0].in_from);
}

TEST_CASE("parser: normalized text and character positions", "[parser]") {
    CHECK(normalize("SELECT * FROM t WHERE name = 'secret'") == "SELECT * FROM t WHERE name = $1");
    std::string signs = "SELECT 1 ";
    for (int i = 0; i < 20000; ++i) signs += "+-";
    CHECK_FALSE(normalize(signs).has_value());  // refused before libpg_query's quadratic lexer sees it
    CHECK(character_position("SELECT 'é' , x", 13) == 13);
    CHECK(character_position("SELECT 'é', x", 13) == 13);
}

namespace {
// What PostgreSQL's lexer makes quadratic, and ordinary text that looks like it but is not.
std::string repeated(std::string_view head, std::string_view unit, std::size_t times, std::string_view tail = "") {
    std::string out(head);
    for (std::size_t i = 0; i < times; ++i) out += unit;
    return out += tail;
}
}  // namespace

TEST_CASE("attack: nested comment starts that make the lexer quadratic are refused before parsing", "[parser][security]") {
    // 64 KB of /*/*/* took libpg_query 7.9 s and froze a worker thread.
    const auto r = parse(repeated("SELECT 1 ", "/*", 32 * 1024, repeated("", "*/", 32 * 1024)));
    REQUIRE_FALSE(r);
    CHECK(r.error().type == parse_error::kind::limit);
    CHECK(r.error().message.find("quadratic") != std::string::npos);
    // Inside a comment the same run is as slow.
    CHECK_FALSE(parse(repeated("SELECT 1 /* x ", "/*", 16 * 1024, "")));
}

TEST_CASE("attack: a long run of + and - is refused before the lexer rescans it", "[parser][security]") {
    const auto r = parse(repeated("SELECT 1 ", "+-", 20000, "1"));
    REQUIRE_FALSE(r);
    CHECK(r.error().type == parse_error::kind::limit);
}

TEST_CASE("parser: comments, strings and operators that are long but linear pass the text check", "[parser]") {
    CHECK(check_text(repeated("SELECT 1 /* ", "=", 100000, " */"), {}));
    CHECK(check_text(repeated("SELECT 1 -- ", "/*", 50000, "\n"), {}));
    CHECK(check_text(repeated("SELECT '", "/*+-", 50000, "'"), {}));
    CHECK(check_text(repeated("SELECT $q$", "/*/*", 50000, "$q$"), {}));
    CHECK(check_text(repeated("SELECT E'\\'", "/*/*", 50000, "'"), {}));
    CHECK(check_text(repeated("SELECT \"", "/*", 50000, "\""), {}));
    CHECK(check_text(repeated("/", "*", 100000, "/ SELECT 1"), {}));  // a banner comment
    CHECK(parse("SELECT 1 - -1, 2 +- 3, 'a' || /* c */ 'b'"));
}

TEST_CASE("attack: a Query of 40,000 statements is refused before it is parsed", "[parser][security]") {
    // One 360 KB Query of `SELECT 1;` grew the process by 450 MiB.
    const auto r = parse(repeated("", "SELECT 1;", 40000));
    REQUIRE_FALSE(r);
    CHECK(r.error().type == parse_error::kind::limit);
    CHECK(r.error().message.find("40000 statements") != std::string::npos);
    CHECK(parse(repeated("", "SELECT 1;", 100)));
    CHECK(parse(repeated("", ";", 1000, "SELECT 1")));  // empty statements are not statements
    const auto shape = check_text("SELECT ';'; SELECT \";\"; /* ; */ SELECT $$;$$ -- ;\n", {});
    REQUIRE(shape);
    CHECK(shape->statements == 3);
}

TEST_CASE("attack: text that is not valid UTF-8 is refused before parsing", "[parser][security]") {
    // libpg_query and PostgreSQL must read the same characters.
    for (const std::string& bad : {std::string("SELECT '\xC0\xAF'"), std::string("SELECT '\xED\xA0\x80'"),
                                  std::string("SELECT 1 -- \xFF\n"), std::string("SELECT '\x00'", 10)}) {
        const auto r = parse(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().type == parse_error::kind::encoding);
    }
}
