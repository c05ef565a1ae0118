// The shape cache (policy/statement_shape.hpp): which texts get a shape, and
// the differential proof that a decision kept under a shape is the one a
// fresh analysis gives for every text of that shape.

#include "corpus_support.hpp"

#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/statement_shape.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <cctype>
#include <filesystem>
#include <random>

using namespace pgsieve;

TEST_CASE("shape: integer constants become 0; anything the scanner is not sure of gives no shape", "[policy][shape]") {
    using policy::statement_shape;
    CHECK(statement_shape("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;") ==
          "SELECT abalance FROM pgbench_accounts WHERE aid = 0;");
    CHECK(statement_shape("UPDATE t1 SET x = x + -3 WHERE id IN (1,22, 333) AND y = $1") ==
          "UPDATE t1 SET x = x + -0 WHERE id IN (0,0, 0) AND y = $1");
    CHECK(statement_shape("SELECT x FROM t LIMIT 2147483647") == "SELECT x FROM t LIMIT 0");
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE y = $1"));  // no constant: the exact text is the key
    // Another type, or not a plain integer.
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = 2147483648"));
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = 1.5"));
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = .5"));
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = 1e3"));
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = 0x1F"));
    // Strings, quoted identifiers, dollar quotes, comments, escapes.
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = 1 AND n = 'a'"));
    CHECK_FALSE(statement_shape("SELECT \"x\" FROM t WHERE id = 1"));
    CHECK_FALSE(statement_shape("SELECT $$a$$, x FROM t WHERE id = 1"));
    CHECK_FALSE(statement_shape("SELECT x FROM t WHERE id = 1 -- 2"));
    CHECK_FALSE(statement_shape("SELECT x FROM t /* 2 */ WHERE id = 1"));
    CHECK_FALSE(statement_shape("SELECT U&x FROM t WHERE id = 1"));
    // Integers that may name an output column by position.
    CHECK_FALSE(statement_shape("SELECT id, name FROM t WHERE id > 3 ORDER BY 1"));
    CHECK_FALSE(statement_shape("SELECT id, count(*) FROM t GROUP BY 1"));
    CHECK_FALSE(statement_shape("SELECT DISTINCT ON (1) id FROM t"));
    CHECK_FALSE(statement_shape(std::string(policy::max_shaped_bytes, ' ') + "SELECT 1"));
}

namespace {

// The text with every constant the scanner replaces set to another value.
std::string with_other_constants(const std::string& sql, std::mt19937& random) {
    const auto part = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || (c & 0x80); };
    std::uniform_int_distribution<std::int64_t> any(0, 2147483647);
    constexpr std::int64_t edges[] = {0, 1, 2, 7, 10, 99, 100, 2147483647};
    std::string out;
    for (std::size_t i = 0; i < sql.size();) {
        const bool standalone = std::isdigit(static_cast<unsigned char>(sql[i])) && (i == 0 || (!part(sql[i - 1]) && sql[i - 1] != '.'));
        if (!standalone) {
            // An identifier with digits in it is copied whole.
            std::size_t j = i + 1;
            if (part(sql[i]))
                while (j < sql.size() && part(sql[j])) ++j;
            out.append(sql, i, j - i);
            i = j;
            continue;
        }
        std::size_t j = i;
        while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
        const auto value = random() % 3 == 0 ? edges[random() % std::size(edges)] : any(random);
        out += std::to_string(value);
        i = j;
    }
    return out;
}

// What a decision says, for comparing two.
std::string summary(const policy::decision& d) {
    std::string s = fmt::format("allowed={} would_block={} rule={} max_rows={} max_bytes={} written={} {} approval={} "
                                "redact={} scoped_sql={} cacheable={} effects={}",
                                d.allowed, d.would_block, policy::to_string(d.rule), d.max_rows, d.max_result_bytes,
                                d.max_rows_written, d.written_table, d.needs_approval, d.redact_errors, d.scoped_sql,
                                d.shape_cacheable, d.effects.size());
    for (const auto* list : {&d.tables, &d.columns, &d.functions, &d.row_scoped, &d.scoped}) {
        s += " [";
        for (const auto& x : *list) s += x + ",";
        s += "]";
    }
    return s;
}

std::vector<std::string> case_files() {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(PGSIEVE_CORPUS))
        if (entry.path().extension() == ".cases") out.push_back(entry.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("shape: every corpus statement and thousands of variants decide alike fresh and through their shape",
          "[policy][shape][security]") {
    auto cases = test::corpus_cases(case_files());
    // Attacks on the cache itself: constants that name objects or columns.
    for (const auto* sql : {"SELECT pg_get_viewdef(16390)", "SELECT id FROM customers WHERE id = 16390::regclass::oid",
                            "SELECT id, name FROM customers ORDER BY 2", "SELECT col_description(16390, 1)",
                            "SELECT id FROM customers WHERE id = 1 UNION SELECT oid::int FROM pg_class WHERE oid = 1259"}) {
        test::corpus_case attack{"attack", "cs_bot", "", "", sql};
        // Never decided under a shape: the constant may decide.
        INFO(sql);
        CHECK((!policy::statement_shape(sql) || !test::decide_case(attack).shape_cacheable));
        cases.push_back(std::move(attack));
    }
    // Integer constants in every place a statement of user tables takes them.
    const std::vector<std::pair<std::string, std::string>> placed = {
        {"cs_bot", "SELECT id, name FROM customers WHERE id = 42"},
        {"cs_bot", "SELECT id, name FROM customers WHERE id IN (1, 2, 3) LIMIT 10 OFFSET 5"},
        {"cs_bot", "SELECT id FROM customers WHERE id BETWEEN 10 AND 20 AND plan IS NOT NULL"},
        {"cs_bot", "SELECT c.id, c.name FROM customers c JOIN usage_daily u ON u.customer_id = c.id WHERE c.id > 7"},
        {"cs_bot", "SELECT id FROM customers WHERE id = 3 UNION ALL SELECT id FROM customers WHERE id = 4"},
        {"cs_bot", "SELECT id FROM customers WHERE id = (SELECT max(id) FROM customers WHERE id < 100)"},
        {"cs_bot", "SELECT id, 1 AS one, 2 + 3 AS five FROM customers WHERE id <> 9"},
        {"cs_bot", "SELECT id FROM customers WHERE EXISTS (SELECT 1 FROM usage_daily WHERE customer_id = 5)"},
        {"cs_bot", "WITH x AS (SELECT id FROM customers WHERE id > 1) SELECT id FROM x WHERE id < 50"},
        {"cs_bot", "SELECT id FROM customers WHERE id = 1 OR id = 2 FETCH FIRST 3 ROWS ONLY"},
        {"cs_bot", "SELECT * FROM customers WHERE id = 1"},
        {"cs_bot", "SELECT id FROM customers OFFSET 1 FETCH FIRST 3 ROWS ONLY"},
        {"cs_bot", "SELECT 1"},
        {"cs_bot", "VALUES (1, 2), (3, 4)"},
        {"cs_bot", "SELECT id, email FROM customers WHERE id = 1"},  // refused: never under a shape
        {"ops_bot", "UPDATE usage_daily SET customer_id = customer_id WHERE customer_id = 12"},
        {"ops_bot", "DELETE FROM usage_daily WHERE customer_id = 12 AND 1 = 1"},
        {"ops_bot", "DELETE FROM usage_daily WHERE customer_id > 0 OR 1 = 1"},  // the guardrail's
        {"ops_bot", "UPDATE widgets SET label = label WHERE id = 3"},
        {"ops_bot", "INSERT INTO tickets (id, customer_id) VALUES (1, 2)"},
        {"ops_bot", "INSERT INTO tickets (id, customer_id) VALUES (1, 2) RETURNING id"},
        {"plain_bot", "SELECT * FROM widgets WHERE id = 5"},
        {"plain_bot", "SELECT n.* FROM notes n WHERE n.id = 5 LIMIT 1"},
        {"pii_bot", "SELECT id, ssn FROM customers WHERE id = 5"},
        {"watch_bot", "SELECT id FROM customers WHERE id = 5"},
    };
    for (const auto& [client, sql] : placed) cases.push_back({"placed", client, "", "", sql});
    std::mt19937 random(20261207);
    std::size_t cacheable = 0, variants = 0;
    std::vector<std::string> failures;
    for (const auto& c : cases) {
        const auto shape = policy::statement_shape(c.sql);
        if (!shape) continue;
        const auto fresh = test::decide_case(c);
        if (!fresh.shape_cacheable) continue;
        ++cacheable;
        const auto expected = summary(fresh);
        for (int i = 0; i < 100; ++i) {
            auto v = c;
            v.sql = with_other_constants(c.sql, random);
            ++variants;
            if (policy::statement_shape(v.sql) != shape) {
                failures.push_back(c.where + ": the variant has another shape: " + v.sql);
                break;
            }
            if (const auto got = summary(test::decide_case(v)); got != expected) {
                failures.push_back(c.where + ": " + v.sql + "\n  fresh:  " + got + "\n  shaped: " + expected);
                break;
            }
        }
    }
    INFO(cases.size() << " statements, " << cacheable << " decided under their shape, " << variants << " variants");
    std::string report;
    for (const auto& f : failures) report += f + "\n";
    INFO(report);
    CHECK(failures.empty());
    CHECK(cacheable >= 20);
    CHECK(variants >= 2000);
}
