// Tickets of writes held for approval (session/approvals.hpp): decided
// once, used once, lapsing; and the parameters a person is shown. Through
// drivers, `pgsieve approve` and a webhook: tests/integration/test_approvals.py.

#include <pgsieve/session/approvals.hpp>

#include <catch2/catch.hpp>

using namespace pgsieve;

TEST_CASE("approvals: a ticket is decided once, used once, and lapses", "[session][approvals]") {
    session::approval_book book;
    const auto t0 = std::chrono::system_clock::now();
    const session::approval_binding b{"cs_bot", "v1", "DELETE FROM t WHERE id = $1", std::string("\0\0\0\1\0\0\0\1" "7", 9)};
    const auto t = book.open(b, "p", "public.t", "DELETE", 1, std::chrono::minutes(15), t0);
    CHECK(t.id.size() == 9);
    CHECK(t.id.starts_with("AP-"));
    CHECK(book.latest(b)->state == session::ticket_state::pending);
    CHECK_FALSE(book.use(t.id));  // not approved yet
    CHECK(book.decide(t.id, true, "", "dba", t0 + std::chrono::minutes(1)));
    CHECK_FALSE(book.decide(t.id, false, "too late", "dba", t0 + std::chrono::minutes(2)));  // decided once
    // Approved at +1m: usable for 15 minutes from then.
    CHECK(session::live(*book.latest(b), t0 + std::chrono::minutes(15)));
    CHECK_FALSE(session::live(*book.latest(b), t0 + std::chrono::minutes(17)));
    CHECK(book.use(t.id));
    CHECK_FALSE(book.use(t.id));  // once
    CHECK_FALSE(session::live(*book.latest(b), t0));
    // Another binding (other parameters) has no ticket.
    auto other = b;
    other.parameters = std::string("\0\0\0\1\0\0\0\1" "8", 9);
    CHECK_FALSE(book.latest(other));
    // Undecided, a ticket lapses at its timeout and can no longer be decided.
    const auto u = book.open(other, "p", "public.t", "DELETE", 1, std::chrono::minutes(15), t0);
    CHECK_FALSE(book.decide(u.id, true, "", "dba", t0 + std::chrono::minutes(16)));
}

TEST_CASE("attack: a ticket another replica opened under an id this replica holds voids it here",
          "[session][approvals][security]") {
    session::approval_book book;
    const auto now = std::chrono::system_clock::now();
    const auto mine = book.open({"cs_bot", "g1", "DELETE FROM t WHERE id = 1", ""}, "p", "public.t", "DELETE", 1,
                                std::chrono::minutes(1), now);
    auto same = mine;
    CHECK(book.import(same, now) == session::approval_book::imported::known);
    auto other = mine;
    other.binding.sql = "DELETE FROM t";  // what a person would be approving, under my ticket's id
    other.rows = 1000;
    CHECK(book.import(other, now) == session::approval_book::imported::conflict);
    // A decision on that id can no longer approve this replica's statement.
    CHECK_FALSE(book.decide(mine.id, true, "", "ops_lead", now));
    CHECK(book.ticket(mine.id)->state == session::ticket_state::voided);
    CHECK_FALSE(live(*book.ticket(mine.id), now));
    auto fresh = mine;
    fresh.id = "AP-OTHER2";
    CHECK(book.import(fresh, now) == session::approval_book::imported::added);
}

TEST_CASE("approvals: a Bind's parameters shown to the person deciding", "[session][approvals]") {
    // One text parameter, one binary, one NULL (format codes 0, 1, 0).
    const std::string bind("\0\3\0\0\0\1\0\0" "\0\3" "\0\0\0\2hi" "\0\0\0\2\0\3" "\xff\xff\xff\xff" "\0\0", 28);
    CHECK(session::parameters_json(bind) == R"(["hi","\\x0003",null])");
    CHECK(session::parameters_json("") == "[]");
    CHECK(session::parameters_json(std::string("\0\0\0\5", 4)) == "null");  // cut short
}
