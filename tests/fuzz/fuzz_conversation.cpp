// libFuzzer target: whole client conversations with a logged-in session and
// a scripted PostgreSQL — pipelines of Query/Parse/Bind/Execute/Describe/
// Close/Sync with errors, COPY messages, reloads and catalog refreshes
// between messages, statements analysed off the thread (or past their
// deadline), abrupt closes from either side. The input is a program of such
// steps, so the class of sequences is searched, not sampled.
//
// Besides "nothing crashes" (ASan, UBSan), every step checks the promise: no
// statement text reaches the upstream unless the policy in force allows it,
// and no Bind reaches it for a prepared statement whose text the policy in
// force does not allow (a reload between Parse and Bind included).

#include "fuzz_support.hpp"

#include <pgsieve/config/load.hpp>
#include <pgsieve/policy/decide.hpp>
#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/message_io.hpp>
#include <pgsieve/wire/scram.hpp>

#include <array>
#include <cstdlib>
#include <deque>
#include <map>

using namespace pgsieve;

using pgsieve::fuzz::log_in;
using pgsieve::fuzz::settle;

namespace {

constexpr std::string_view refused_sql = "pgsieve refused this statement";

std::shared_ptr<const config::config> load(std::string_view columns) {
    config::environment env{[](const std::string&) -> std::optional<std::string> { return "secret"; },
                            [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
    static const auto verifier = wire::scram::to_string(*wire::scram::make_verifier("secret", "fuzzsalt", 1));
    auto loaded = config::load_text(
        std::string(R"(listen: {max_message_bytes: 65536, max_statements_per_query: 4}
upstream: {host: db, database: app, user: u, password_env: P, sslmode: disable}
audit: {sqlite: /a.db}
clients: [{name: bot, password: ")") + verifier + R"(", policy: p}]
policies: {p: {statements: [select], max_rows: 2, tables: {public.t: {columns: [)" + std::string(columns) +
            "]}, public.u: {mask: {x: redact}}}}}\n",
        "/fuzz.yaml", env);
    if (!loaded) std::abort();
    return *loaded;
}

std::shared_ptr<const policy::catalog> make_catalog(bool with_v) {
    std::vector<policy::relation_info> relations{{"public", "t", 'r', {"a", "b", "c"}}, {"public", "u", 'r', {"x"}}};
    if (with_v) relations.push_back({"public", "v", 'r', {"y"}});
    return std::make_shared<const policy::catalog>(
        std::move(relations),
        std::vector<policy::function_info>{{"pg_catalog", "count", 'i', 'a', 1, 0, true},
                                           {"pg_catalog", "pg_sleep", 'v', 'f', 1}},
        std::vector<policy::operator_info>{});
}

// Statements to pick from: allowed, refused, session-dependent, long (analysed off the thread).
const std::array<std::string, 16> sql_words{
    "SELECT a FROM t", "SELECT a, b FROM t", "SELECT c FROM t", "SELECT x FROM u", "SELECT * FROM t",
    "SELECT 1; SELECT a FROM t", "DELETE FROM t", "PREPARE q AS SELECT a FROM t", "EXECUTE q",
    "DECLARE k CURSOR FOR SELECT b FROM t", "FETCH k", "BEGIN", "COMMIT", "SELECT pg_sleep(1)",
    "SELECT y FROM v", "SELECT a FROM t WHERE a IN (" + std::string(5000, '1') + ")"};
const std::array<std::string, 4> names{"", "a", "b", "zz"};


// A PostgreSQL that answers what it receives in order, as the real one does:
// an error skips the rest up to Sync; refused substitutes fail.
class scripted_postgres {
public:
    // Reads what the session forwarded; checks statement texts against the
    // policy in force (Binds are checked when run: PostgreSQL skips them
    // after an error, and runs the text it holds under the name).
    void receive(std::string& bytes, std::shared_ptr<const session::policy_snapshot> in_force) {
        for (;;) {
            const auto r = wire::decode_frame(bytes, 1u << 30);
            if (r.status != wire::decode_status::ok) break;
            check_text(r.message, *in_force);
            pending_.push_back({r.message.type, std::string(r.message.body), in_force});
            bytes.erase(0, r.message.size);
        }
        bytes.clear();  // a partial frame cannot happen: the session writes whole ones
    }

    // Answers up to `n` pending requests into `out`.
    void answer(std::size_t n, std::string& out) {
        namespace fe = wire::frontend;
        for (; n > 0 && !pending_.empty(); --n) {
            const auto [type, body, in_force] = std::move(pending_.front());
            pending_.pop_front();
            if (skipping_ && type != fe::sync) continue;
            switch (type) {
                case fe::query: {
                    prepared_.erase("");
                    portals_.erase("");
                    const auto q = wire::parse_query(body);
                    if (!q || q->sql == refused_sql) error(out);
                    else complete(out);
                    wire::write_ready_for_query(out, 'I');
                    break;
                }
                case fe::parse: {
                    // As PostgreSQL: the unnamed statement is dropped first; a
                    // name already held is an error.
                    const auto p = wire::parse_parse(body);
                    if (p && p->statement.empty()) prepared_.erase("");
                    if (!p || p->sql == refused_sql || prepared_.contains(std::string(p->statement))) {
                        fail(out);
                    } else {
                        prepared_[std::string(p->statement)] = std::string(p->sql);
                        out += std::string("1\0\0\0\4", 5);
                    }
                    break;
                }
                case fe::bind: {
                    const auto b = wire::parse_bind(body);
                    if (!b || !prepared_.contains(std::string(b->statement))) {
                        fail(out);
                    } else {
                        // The promise: a Bind runs only a text the policy in force when it was sent allows.
                        check_allowed(prepared_[std::string(b->statement)], *in_force);
                        portals_[std::string(b->portal)] = prepared_[std::string(b->statement)];
                        out += std::string("2\0\0\0\4", 5);
                    }
                    break;
                }
                case fe::execute: {
                    const auto e = wire::parse_execute(body);
                    if (!e || !portals_.contains(std::string(e->portal))) {
                        fail(out);
                    } else {
                        for (int i = 0; i < 3; ++i) row(out);
                        complete(out);
                    }
                    break;
                }
                case fe::describe: out += std::string("n\0\0\0\4", 5); break;
                case fe::close: {
                    if (const auto c = wire::parse_close(body)) (c->kind == 'S' ? prepared_ : portals_).erase(std::string(c->name));
                    out += std::string("3\0\0\0\4", 5);
                    break;
                }
                case fe::sync:
                    skipping_ = false;
                    wire::write_ready_for_query(out, 'I');
                    break;
                default: break;  // Flush, COPY: nothing to answer
            }
        }
    }

    std::size_t pending() const { return pending_.size(); }

private:
    // The promise: forwarded text is allowed, or it is the refusal substitute.
    void check_text(const wire::frame& f, const session::policy_snapshot& in_force) {
        namespace fe = wire::frontend;
        if (f.type == fe::query) {
            if (const auto q = wire::parse_query(f.body)) check_allowed(std::string(q->sql), in_force);
        } else if (f.type == fe::parse) {
            if (const auto p = wire::parse_parse(f.body)) check_allowed(std::string(p->sql), in_force);
        }
    }

    static void check_allowed(const std::string& text, const session::policy_snapshot& in_force) {
        if (text == refused_sql) return;
        // EXECUTE and FETCH depend on what the session holds; decided with it.
        if (text.find("EXECUTE") != std::string::npos || text.find("FETCH") != std::string::npos) return;
        const policy::context ctx{*in_force.cfg, *in_force.cfg->find_policy("p"), *in_force.catalog, {"public"}, "u",
                                  nullptr};
        if (!policy::decide(text, ctx).allowed) std::abort();  // a refused statement reached PostgreSQL
    }

    void row(std::string& out) {
        wire::message_writer(out).begin('D').int16(1).int32(1).bytes("1").end();
    }
    void complete(std::string& out) { wire::message_writer(out).begin('C').cstring("SELECT 1").end(); }
    void error(std::string& out) {
        wire::error_fields e;
        e.sqlstate = "42601";
        e.message = "syntax error";
        wire::write_error_response(out, e);
    }
    void fail(std::string& out) {
        error(out);
        skipping_ = true;
    }

    struct sent {
        char type;
        std::string body;
        std::shared_ptr<const session::policy_snapshot> in_force;
    };
    std::deque<sent> pending_;
    std::map<std::string, std::string> prepared_, portals_;
    bool skipping_ = false;
};

// The fuzz input, read a byte at a time (zeros once it runs out).
struct program {
    const std::uint8_t* at;
    const std::uint8_t* end;
    std::uint8_t next() { return at < end ? *at++ : 0; }
    bool done() const { return at >= end; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto wide = load("a, b");
    static const auto narrow = load("a");
    static const auto catalog = make_catalog(false);
    static const auto larger = make_catalog(true);
    session::shared_state shared;
    shared.policies.update(wide, catalog);
    auto s = std::make_unique<session::session>(wide, shared);
    if (!log_in(*s)) std::abort();  // the scripted login itself must work

    scripted_postgres postgres;
    program p{data, data + size};
    const auto now = session::clock::now();
    // What the session forwarded reaches PostgreSQL under the policy in force.
    const auto forward = [&] { postgres.receive(s->upstream_output(), shared.policies.current()); };
    // Relays what the client sent, running analyses as the fuzzer decides.
    const auto relay_client = [&]() -> bool {
        for (int rounds = 0; rounds < 16; ++rounds) {
            const auto status = s->relay_client(now);
            forward();
            if (status == session::relay_status::close) return false;
            if (status == session::relay_status::analyse) {
                auto job = s->take_analysis_job();
                if (p.next() & 1 && job) s->on_analysis(session::analyse(*job));
                else s->on_analysis_timeout(std::chrono::milliseconds(1));
                continue;
            }
            if (status == session::relay_status::wait_upstream) {
                std::string replies;
                postgres.answer(64, replies);
                s->upstream_input() += replies;
                if (s->relay_upstream(now) == session::relay_status::close) return false;
                s->client_output().clear();
                continue;
            }
            return true;
        }
        return true;
    };

    while (!p.done()) {
        std::string& in = s->client_input();
        const auto op = p.next() % 20;
        const auto& sql = sql_words[p.next() % sql_words.size()];
        const auto& name = names[p.next() % names.size()];
        switch (op) {
            case 0: wire::write_query(in, sql); break;
            case 1: wire::message_writer(in).begin('P').cstring(name).cstring(sql).int16(0).end(); break;
            case 2: {
                const auto& portal = names[p.next() % 2];
                wire::message_writer(in).begin('B').cstring(portal).cstring(name).int16(0).int16(0).int16(0).end();
                break;
            }
            case 3: wire::message_writer(in).begin('E').cstring(names[p.next() % 2]).int32(p.next() % 3).end(); break;
            case 4: wire::message_writer(in).begin('D').byte(p.next() & 1 ? 'S' : 'P').cstring(name).end(); break;
            case 5: wire::message_writer(in).begin('C').byte(p.next() & 1 ? 'S' : 'P').cstring(name).end(); break;
            case 6: wire::message_writer(in).begin('S').end(); break;
            case 7: wire::message_writer(in).begin('H').end(); break;
            case 8: wire::message_writer(in).begin("dcf"[p.next() % 3]).bytes("x").end(); break;
            case 9: {  // raw bytes from the program
                const std::size_t n = p.next() % 32;
                for (std::size_t i = 0; i < n; ++i) in += static_cast<char>(p.next());
                break;
            }
            case 10: case 11: case 12: {  // PostgreSQL answers some, or all
                std::string replies;
                postgres.answer(op == 12 ? postgres.pending() : 1 + p.next() % 4, replies);
                s->upstream_input() += replies;
                if (s->relay_upstream(now) == session::relay_status::close) return 0;
                s->client_output().clear();
                (void)s->take_outcomes();
                continue;
            }
            case 13: {  // PostgreSQL sends raw bytes
                const std::size_t n = p.next() % 32;
                for (std::size_t i = 0; i < n; ++i) s->upstream_input() += static_cast<char>(p.next());
                if (s->relay_upstream(now) == session::relay_status::close) return 0;
                s->client_output().clear();
                continue;
            }
            case 14:  // a reload between messages: the policy narrows or widens
                shared.policies.update(p.next() & 1 ? narrow : wide, nullptr);
                continue;
            case 15:  // a catalog refresh (maybe with a new table)
                shared.policies.update(nullptr, p.next() & 1 ? larger : catalog);
                continue;
            case 16:  // the upstream goes away
                s->on_upstream_closed();
                return 0;
            case 17:  // the client goes away
                s->on_disconnect();
                return 0;
            case 18:  // shutdown, or a timeout, ends the session with a FATAL
                s->fail("57P01", "terminating connection due to administrator command");
                (void)s->take_final_client_output();
                return 0;
            default:
                (void)s->take_audit_records(std::chrono::system_clock::now());
                continue;
        }
        if (!relay_client()) return 0;
    }
    return 0;
}
