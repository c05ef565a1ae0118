// Every class of configuration mistake stops the load with FILE:LINE: key.

#include "config_support.hpp"

#include <catch2/catch.hpp>

using namespace pgsieve;
using pgsieve::test::fake_environment;
using pgsieve::test::load_errors;
using Catch::Matchers::Contains;

namespace {

const std::string base = R"(listen:
  port: 6432
upstream:
  host: 127.0.0.1
  database: app
  user: ai_readonly
  password_env: UP_PW
audit:
  sqlite: /var/lib/pgsieve/audit.db
classification:
  pii: [public.customers.email]
clients:
  - name: cs_bot
    password_env: CS_PW
    policy: reader
policies:
  reader:
    statements: [select, insert]
    accept_classified: [pii]
    tables:
      public.customers:
        columns: [id, name]
      public.tickets:
        allow: [select, insert]
)";

fake_environment env() {
    fake_environment e;
    e.variables = {{"UP_PW", "up"}, {"CS_PW", "cs"}};
    e.files = {{"/etc/pgsieve/up.pw", "from-file\nsecond line ignored\n"}};
    return e;
}

std::string with(std::string_view from, std::string_view to) {
    std::string text = base;
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

// The single error a change causes.
std::string only_error(const std::string& yaml, const fake_environment& e = env()) {
    const auto errors = load_errors(yaml, e);
    INFO(yaml);
    for (const auto& msg : errors) UNSCOPED_INFO(msg);
    REQUIRE(errors.size() == 1);
    return errors[0];
}

}  // namespace

TEST_CASE("the base configuration of these tests is valid", "[config]") {
    CHECK(load_errors(base, env()).empty());
}

TEST_CASE("config error: invalid YAML names the line", "[config]") {
    CHECK_THAT(only_error(with("  port: 6432", "  port: [6432")), Contains("invalid YAML"));
}

TEST_CASE("config error: empty file and unreadable file", "[config]") {
    CHECK_THAT(only_error(""), Contains("the file is empty"));
    const auto r = config::load_file("/nonexistent/pgsieve.yaml", env().get());
    REQUIRE_FALSE(r);
    CHECK(r.error()[0].str() == "/nonexistent/pgsieve.yaml: cannot read the file");
}

TEST_CASE("config error: unknown keys, top-level and nested", "[config]") {
    CHECK(only_error(with("  port: 6432", "  prot: 6432")) ==
          "2: listen.prot: unknown key (expected one of: address, port, tls, max_connections, auth_timeout, "
          "idle_timeout, max_message_bytes, max_statement_bytes, max_statements_per_query, analysis_timeout)");
    CHECK_THAT(only_error(base + "logging: {}\n"), Contains("25: logging: unknown key"));
    CHECK_THAT(only_error(with("        columns: [id, name]", "        colums: [id, name]")),
               Contains("22: policies.reader.tables.\"public.customers\".colums: unknown key"));
}

TEST_CASE("config error: wrong types and out-of-range numbers", "[config]") {
    CHECK(only_error(with("port: 6432", "port: sixty")) == "2: listen.port: expected a whole number, found \"sixty\"");
    CHECK(only_error(with("port: 6432", "port: 70000")) == "2: listen.port: 70000 is out of range (1..65535)");
    CHECK(only_error(with("port: 6432", "port: [1]")) == "2: listen.port: expected a value, found a list");
    CHECK(only_error(with("  sqlite: /var/lib/pgsieve/audit.db", "  sqlite: {a: 1}")) ==
          "9: audit.sqlite: expected a value, found a mapping");
    CHECK_THAT(only_error(with("listen:\n  port: 6432", "listen: 5")), Contains("1: listen: expected a mapping"));
}

TEST_CASE("config error: durations need a unit", "[config]") {
    CHECK_THAT(only_error(with("  port: 6432", "  auth_timeout: 10")),
               Contains("2: listen.auth_timeout: expected a duration with a unit"));
    CHECK_THAT(only_error(with("  port: 6432", "  auth_timeout: 2w")), Contains("found \"2w\""));
    CHECK(load_errors(with("  port: 6432", "  auth_timeout: 2d"), env()).empty());  // days are a unit
    CHECK(only_error(with("  port: 6432", "  auth_timeout: 0s")) == "2: listen.auth_timeout: must be greater than zero");
    CHECK(load_errors(with("  port: 6432", "  idle_timeout: 0s"), env()).empty());
}

TEST_CASE("config error: values outside an enumeration list the choices", "[config]") {
    CHECK(only_error(with("  password_env: UP_PW", "  password_env: UP_PW\n  sslmode: maybe")) ==
          "8: upstream.sslmode: \"maybe\" is not one of: disable | prefer | require | verify-full");
    CHECK_THAT(only_error(with("[select, insert]", "[select, insert, drop]")),
               Contains("18: policies.reader.statements[2]: \"drop\" is not one of: select | explain"));
}

TEST_CASE("config error: required keys", "[config]") {
    CHECK(only_error(with("  host: 127.0.0.1\n", "")) == "3: upstream.host: is required");
    CHECK(only_error(with("audit:\n  sqlite: /var/lib/pgsieve/audit.db\n", "")) == "1: audit: is required");
    CHECK(only_error(with("    statements: [select, insert]\n", "")) == "17: policies.reader.statements: is required");
    CHECK(only_error(with("upstream:\n  host: 127.0.0.1\n  database: app\n  user: ai_readonly\n  password_env: UP_PW\n",
                          "upstream:\n  host: 127.0.0.1\n  database: app\n  user: ai_readonly\n  password_env: UP_PW\n"
                          "  sslmode: verify-full\n")) == "3: upstream.sslrootcert: is required with sslmode: verify-full");
}

TEST_CASE("config error: references to things that do not exist", "[config]") {
    CHECK(only_error(with("policy: reader", "policy: raeder")) == "15: clients[0].policy: no policy named \"raeder\"");
    CHECK(only_error(with("accept_classified: [pii]", "accept_classified: [phi]")) ==
          "19: policies.reader.accept_classified: no classification label \"phi\"");
    CHECK(only_error(with("        allow: [select, insert]", "        allow: [select, delete]")) ==
          "24: policies.reader.tables.\"public.tickets\".allow[1]: verb \"delete\" is not among the policy's "
          "statements; add it there or remove it here");
}

TEST_CASE("config error: names must be schema-qualified", "[config]") {
    CHECK(only_error(with("      public.tickets:", "      tickets:")) ==
          "23: policies.reader.tables.tickets: \"tickets\" must be a schema-qualified name: schema.name");
    CHECK_THAT(only_error(with("[public.customers.email]", "[customers.email]")),
               Contains("11: classification.pii[0]: \"customers\" must be a schema-qualified name"));
    CHECK_THAT(only_error(with("    accept_classified: [pii]", "    functions: [plan_label]")),
               Contains("19: policies.reader.functions: \"plan_label\" must be a schema-qualified name"));
    CHECK_THAT(only_error(with("columns: [id, name]", "columns: [id, " + std::string(64, 'x') + "]")),
               Contains("is not a valid name (1 to 63 bytes)"));
}

TEST_CASE("config error: contradictory or empty grants", "[config]") {
    CHECK(only_error(with("        columns: [id, name]", "        columns: [id, name]\n        deny_columns: [email]")) ==
          "23: policies.reader.tables.\"public.customers\".deny_columns: give either columns (an allowlist) or "
          "deny_columns, not both");
    CHECK(only_error(with("columns: [id, name]", "columns: []")) ==
          "22: policies.reader.tables.\"public.customers\".columns: the list is empty");
    CHECK(only_error(with("columns: [id, name]", "columns: [id, id]")) ==
          "22: policies.reader.tables.\"public.customers\".columns[1]: \"id\" is listed twice");
    CHECK_THAT(only_error(with("[select, insert]", "[]")), Contains("the policy would allow nothing"));
}

TEST_CASE("config error: duplicates that would silently replace each other", "[config]") {
    CHECK(only_error(with("      public.tickets:", "      public.customers:")) ==
          "23: policies.reader.tables.\"public.customers\": duplicate key (a later entry would silently replace the "
          "earlier one)");
    CHECK(only_error(with("    policy: reader\n", "    policy: reader\n  - name: cs_bot\n    password_env: CS_PW\n"
                                                    "    policy: reader\n")) ==
          "16: clients[1].name: client \"cs_bot\" is defined twice");
}

TEST_CASE("config error: secrets", "[config]") {
    CHECK(only_error(with("password_env: UP_PW", "password: hunter2")) ==
          "7: upstream.password: secrets are not accepted inline; use password_env or password_file");
    CHECK(only_error(with("password_env: UP_PW", "password_env: NOPE")) ==
          "7: upstream.password_env: environment variable NOPE is not set or empty");
    CHECK(only_error(with("password_env: UP_PW", "password_file: missing.pw")) ==
          "7: upstream.password_file: cannot read /etc/pgsieve/missing.pw");
    CHECK(load_errors(with("password_env: UP_PW", "password_file: up.pw"), env()).empty());
    CHECK(only_error(with("  password_env: UP_PW", "  password_env: UP_PW\n  password_file: up.pw")) ==
          "3: upstream.password: give only one of password, password_env and password_file");
    CHECK_THAT(only_error(with("password_env: CS_PW", "password: hunter2")),
               Contains("14: clients[0].password: an inline password must be a SCRAM-SHA-256 verifier"));
    CHECK_THAT(only_error(with("password_env: CS_PW", "password: \"SCRAM-SHA-256$4096:…\"")),
               Contains("14: clients[0].password: not a valid SCRAM-SHA-256 verifier"));
    CHECK(only_error(with("    password_env: CS_PW\n", "")) ==
          "13: clients[0].password: is required (as password, password_env or password_file)");
    auto e = env();
    e.variables["CS_PW"] = "pässword";
    CHECK_THAT(only_error(base, e), Contains("14: clients[0].password_env: passwords with non-ASCII characters"));
}

TEST_CASE("config error: unreadable certificate files", "[config]") {
    CHECK(only_error(with("  port: 6432", "  port: 6432\n  tls: {cert_file: s.crt, key_file: /etc/pgsieve/up.pw}")) ==
          "3: listen.tls.cert_file: cannot read /etc/pgsieve/s.crt");
}

TEST_CASE("config error: every problem is reported at once, in line order", "[config]") {
    // The policy error is found before the listen error but reported after it.
    std::string yaml = with("[select, insert]", "[selec]") + "extra: 1\n";
    yaml.replace(yaml.find("port: 6432"), 10, "port: 0");
    const auto many = load_errors(yaml, env());
    REQUIRE(many.size() == 3);
    CHECK(many[0].starts_with("2: listen.port"));
    CHECK(many[1].starts_with("18: policies.reader.statements[0]"));
    CHECK(many[2].starts_with("25: extra"));
}

TEST_CASE("load_error formats as FILE:LINE: key: message", "[config]") {
    const auto r = config::load_text(with("port: 6432", "port: x"), "/etc/pgsieve/pgsieve.yaml", env().get());
    REQUIRE_FALSE(r);
    CHECK(r.error()[0].str() == "/etc/pgsieve/pgsieve.yaml:2: listen.port: expected a whole number, found \"x\"");
}

TEST_CASE("config: cluster peers are host:port, the port defaulting to 6432, each naming its replica", "[config]") {
    const auto loaded = config::load_text(
        base + "cluster:\n  instance_id: pgsieve-0\n  peer_listen: 0.0.0.0:6433\n"
               "  peers: [pgsieve-1.pgsieve:6433, pgsieve-2, 10.0.0.7:6433, {address: 'peers:6433', instance: r-3}]\n",
        "/etc/pgsieve/pgsieve.yaml", env().get());
    REQUIRE(loaded);
    const auto& cluster = (*loaded)->cluster;
    CHECK(cluster.instance_id == "pgsieve-0");
    REQUIRE(cluster.peers.size() == 4);
    CHECK(cluster.peers[0].host == "pgsieve-1.pgsieve");
    CHECK(cluster.peers[0].port == 6433);
    CHECK(cluster.peers[0].instance == "pgsieve-1");  // a StatefulSet pod's DNS name
    CHECK(cluster.peers[1].host == "pgsieve-2");
    CHECK(cluster.peers[1].port == 6432);
    CHECK(cluster.peers[1].instance.empty());  // one label: a Service that may be several replicas
    CHECK(cluster.peers[2].instance.empty());  // an address names no replica
    CHECK(cluster.peers[3].host == "peers");
    CHECK(cluster.peers[3].instance == "r-3");
    CHECK((*loaded)->warnings.empty());
}

TEST_CASE("config error: cluster.peers without cluster.peer_listen", "[config][security]") {
    // Forwarded cancels are taken only on the peer port, from the peers' addresses.
    CHECK_THAT(only_error(base + "cluster:\n  peers: [pgsieve-1:6433]\n"),
               Contains("cluster.peers: cluster.peers needs cluster.peer_listen"));
}

TEST_CASE("config error: a cluster peer that is not host:port names the entry", "[config]") {
    CHECK_THAT(only_error(base + "cluster:\n  peer_listen: 0.0.0.0:6433\n  peers: [pgsieve-1:http]\n"),
               Contains("cluster.peers[0]: \"pgsieve-1:http\" is not host:port"));
    CHECK_THAT(only_error(base + "cluster:\n  peer_listen: 0.0.0.0:6433\n  peers: [\":6432\"]\n"),
               Contains("names no host"));
    CHECK_THAT(only_error(base + "cluster:\n  peer: []\n"), Contains("cluster.peer: unknown key"));
}

TEST_CASE("config: cluster.peer_listen is an IP address and port to listen on", "[config]") {
    const auto loaded = config::load_text(base + "cluster:\n  peer_listen: \"[::]:6433\"\n", "/etc/pgsieve/pgsieve.yaml",
                                          env().get());
    REQUIRE(loaded);
    REQUIRE((*loaded)->cluster.peer_listen);
    CHECK((*loaded)->cluster.peer_listen->host == "::");
    CHECK((*loaded)->cluster.peer_listen->port == 6433);
    CHECK_THAT(only_error(base + "cluster:\n  peer_listen: pgsieve-0:6433\n"),
               Contains("cluster.peer_listen: \"pgsieve-0\" is not an IP address and port to listen on"));
}

TEST_CASE("attack: a name with a line break cannot become a statement in pgsieve grants' script", "[config][security]") {
    // A newline in a role or policy name ended an SQL comment in the script
    // the superuser runs. Names that reach SQL, comments and terminals are
    // refused at load, printed inert.
    CHECK(only_error(with("  user: ai_readonly", "  user: \"ai\\nDROP TABLE customers;\"")) ==
          "6: upstream.user: \"ai\\x0aDROP TABLE customers;\" is not a valid name: it has control characters or "
          "invalid UTF-8");
    CHECK_THAT(only_error(with("  reader:\n    statements", "  \"rea\\x1b[2Kder\":\n    statements") +
                          "  reader: {statements: [select]}\n"),
               Contains("policy name \"rea\\x1b[2Kder\" has control characters"));
    CHECK_THAT(only_error(with("      public.customers:", "      \"public.cust\\u0085omers\":")),
               Contains("has control characters or invalid UTF-8"));
    CHECK_THAT(only_error(with("        columns: [id, name]", "        columns: [id, \"na\\tme\"]")),
               Contains("has control characters"));
}

TEST_CASE("config errors: result limits", "[config]") {
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    const std::string head = "upstream: {host: h, database: app, user: u}\naudit: {sqlite: /a.db}\n"
                             "clients: [{name: a, password_env: P, policy: p}]\npolicies:\n  p:\n    statements: [select]\n";
    CHECK(test::load_errors(head + "    max_result_bytes: 10MB\n    on_exceed: truncate\n", env).empty());
    CHECK(test::load_errors(head + "    max_result_bytes: 65536\n", env).empty());
    CHECK(test::load_errors(head + "    max_result_bytes: 999999999999GB\n", env) ==
          std::vector<std::string>{"7: policies.p.max_result_bytes: \"999999999999GB\" is more than 1PB"});
    CHECK(test::load_errors(head + "    max_result_bytes: ten\n", env) ==
          std::vector<std::string>{"7: policies.p.max_result_bytes: expected a size such as 65536, 512kB, 10MB or 1GB, "
                                   "found \"ten\""});
    CHECK(test::load_errors(head + "    on_exceed: truncate\n", env) ==
          std::vector<std::string>{
              "7: policies.p.on_exceed: on_exceed applies to max_rows and max_result_bytes; set one of them"});
    CHECK(test::load_errors(head + "    max_rows: 5\n    on_exceed: drop\n", env).size() == 1);
}

TEST_CASE("config: an unknown key does not pair the keys after it with other values", "[config]") {
    // Erasing unknown keys in place assigned YAML nodes, which writes
    // through into the document: every later key was read with the value of
    // another ("max_rows: expected a whole number, found \"5s\"").
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    const std::string text = "upstream: {host: h, database: app, user: u}\naudit: {sqlite: /a.db}\n"
                             "clients: [{name: a, password_env: P, policy: p}]\npolicies:\n  p:\n"
                             "    statements: [select]\n    masks: {pii: hash}\n    mask_key_environment: K\n"
                             "    max_rows: 1000\n    statement_timeout: 5s\n";
    const auto errors = test::load_errors(text, env);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].starts_with("7: policies.p.masks: unknown key"));
    CHECK(errors[1].starts_with("8: policies.p.mask_key_environment: unknown key"));
}

TEST_CASE("config: approval names held writes the policy can make, and a signed webhook", "[config]") {
    test::fake_environment env;
    env.variables = {{"P", "pw"}, {"HOOK", "s3cret"}};
    const std::string head = "upstream: {host: h, database: app, user: u}\naudit: {sqlite: /a.db}\n"
                             "clients: [{name: a, password_env: P, policy: p}]\npolicies:\n  p:\n"
                             "    statements: [select, update, delete]\n"
                             "    tables: {public.t: {allow: [select, update, delete]}}\n    approval:\n";
    const auto loaded = config::load_text(head + "      statements: [update, delete]\n      tables: [public.t]\n"
                                                 "      timeout: 10m\n      webhook_url: https://chat.example.com/hook\n"
                                                 "      webhook_secret_env: HOOK\n",
                                          "/etc/pgsieve/pgsieve.yaml", env.get());
    REQUIRE(loaded);
    const auto& a = *(*loaded)->find_policy("p")->approval;
    CHECK(a.holds(config::table_verb::delete_, {"public", "t"}));
    CHECK_FALSE(a.holds(config::table_verb::insert, {"public", "t"}));
    CHECK_FALSE(a.holds(config::table_verb::update, {"public", "other"}));
    CHECK(a.timeout == std::chrono::minutes(10));
    CHECK(a.webhook->host == "chat.example.com");
    CHECK(a.webhook->port == 443);
    CHECK(a.webhook->path == "/hook");
    CHECK(a.webhook_secret == "s3cret");
    CHECK(test::load_errors(head + "      timeout: 5m\n", env) ==
          std::vector<std::string>{"8: policies.p.approval: name the writes held for approval: statements (insert, "
                                   "update, delete), tables, or both"});
    CHECK(test::load_errors(head + "      statements: [insert]\n", env) ==
          std::vector<std::string>{"9: policies.p.approval.statements[0]: \"insert\" is not among the policy's statements"});
    CHECK(test::load_errors(head + "      tables: [public.other]\n", env) ==
          std::vector<std::string>{"9: policies.p.approval.tables[0]: table \"public.other\" is not among the policy's tables"});
    CHECK(test::load_errors(head + "      tables: [public.t]\n      webhook_url: http://h/x\n", env) ==
          std::vector<std::string>{"10: policies.p.approval.webhook_url: a webhook needs webhook_secret_env or "
                                   "webhook_secret_file to sign its body"});
    // A fleet keeps tickets in the central store, where every replica sees them.
    const std::string fleet = "cluster: {peers: [\"10.0.0.2:6433\"], peer_listen: \"10.0.0.1:6433\"}\n";
    const auto no_store = test::load_errors(fleet + head + "      tables: [public.t]\n", env);
    REQUIRE(no_store.size() == 1);
    CHECK(no_store[0].find("policies.p.approval: a fleet (cluster.peers) keeps approval tickets in the central audit "
                           "store") != std::string::npos);
    const std::string with_store = fleet + "upstream: {host: h, database: app, user: u}\n"
                                   "audit: {sqlite: /a.db, export: {postgresql: {host: s, database: audit, user: w, "
                                   "password_env: P}}}\n" +
                                   head.substr(head.find("clients:")) + "      tables: [public.t]\n";
    CHECK(config::load_text(with_store, "/etc/pgsieve/pgsieve.yaml", env.get()));
}

TEST_CASE("config: replicas that differ only outside the grants bind approvals alike", "[config]") {
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    const std::string grants = "upstream: {host: h, database: app, user: u}\naudit: {sqlite: /a.db}\n"
                               "clients: [{name: a, password_env: P, policy: p}]\n"
                               "policies:\n  p: {statements: [select], tables: {public.t: {}}}\n";
    const auto a = config::load_text("cluster: {instance_id: replica-a}\n" + grants, "/a.yaml", env.get());
    const auto b = config::load_text("listen: {port: 7000}\ncluster: {instance_id: replica-b}\n" + grants, "/b.yaml",
                                     env.get());
    auto narrower = grants;
    narrower.replace(narrower.find("public.t: {}"), 12, "public.t: {columns: [id]}");
    const auto c = config::load_text(narrower, "/c.yaml", env.get());
    REQUIRE((a && b && c));
    CHECK((*a)->version != (*b)->version);
    CHECK((*a)->grants_version == (*b)->grants_version);
    CHECK((*a)->grants_version != (*c)->grants_version);
}

TEST_CASE("config: max_rows_written on a table that allows writes", "[config]") {
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    const std::string head = "upstream: {host: h, database: app, user: u}\naudit: {sqlite: /a.db}\n"
                             "clients: [{name: a, password_env: P, policy: p}]\npolicies:\n  p:\n"
                             "    statements: [select, update]\n    tables:\n";
    CHECK(test::load_errors(head + "      public.t: {allow: [select, update], max_rows_written: 10}\n", env).empty());
    CHECK(test::load_errors(head + "      public.t: {max_rows_written: 10}\n", env) ==
          std::vector<std::string>{"8: policies.p.tables.\"public.t\".max_rows_written: max_rows_written limits writes, "
                                   "and the table allows none (allow: [select])"});
    CHECK(test::load_errors(head + "      public.t: {allow: [update], max_rows_written: 0}\n", env).size() == 1);
}

TEST_CASE("config: budgets per policy, overridden per client", "[config]") {
    test::fake_environment env;
    env.variables = {{"P", "pw"}};
    const std::string text = R"(upstream: {host: h, database: app, user: u}
audit: {sqlite: /a.db}
clients:
  - {name: a, password_env: P, policy: p}
  - {name: b, password_env: P, policy: p, budgets: {statements: 10/1m}}
policies:
  p:
    statements: [select]
    budgets: {statements: 1000/1h, rows: 100000/1d, bytes: 500MB/1d, statement_time: 10m/1h}
)";
    const auto cfg = config::load_text(text, "/p.yaml", env.get());
    REQUIRE(cfg);
    const auto a = (*cfg)->budgets_of(*(*cfg)->find_client("a"));
    REQUIRE(a.size() == 4);
    CHECK(a[0] == config::budget{config::budget_kind::statements, 1000, std::chrono::hours(1)});
    CHECK(a[2] == config::budget{config::budget_kind::bytes, 500ull << 20, std::chrono::hours(24)});
    CHECK(a[3] == config::budget{config::budget_kind::statement_time, 600'000'000, std::chrono::hours(1)});
    const auto b = (*cfg)->budgets_of(*(*cfg)->find_client("b"));
    REQUIRE(b.size() == 4);
    CHECK(b[0] == config::budget{config::budget_kind::statements, 10, std::chrono::minutes(1)});
    const auto bad = [&](const std::string& budgets) {
        std::string t = text;
        t.replace(t.find("{statements: 1000/1h, rows: 100000/1d, bytes: 500MB/1d, statement_time: 10m/1h}"), 80,
                  budgets);
        return test::load_errors(t, env);
    };
    CHECK(bad("{statements: 1000}") ==
          std::vector<std::string>{"9: policies.p.budgets.statements: expected AMOUNT/WINDOW such as 1000/1h, found \"1000\""});
    CHECK(bad("{statements: 1000/1x}").size() == 1);
    CHECK(bad("{rows: lots/1h}").size() == 1);
    CHECK(bad("{queries: 5/1h}").size() == 1);
    CHECK(bad("{statements: 5/500ms}") ==
          std::vector<std::string>{"9: policies.p.budgets.statements: a budget's window is at least 1s"});
}

TEST_CASE("config: masks by label and by column, with their key", "[config][mask]") {
    test::fake_environment env;
    env.variables = {{"P", "pw"}, {"K", std::string(32, 'k')}, {"SHORT", "short"}};
    const std::string head = "upstream: {host: h, database: app, user: u}\naudit: {sqlite: /a.db}\n"
                             "classification: {pii: [public.t.ssn, public.t.email, hr.e.ssn]}\n"
                             "clients: [{name: a, password_env: P, policy: p}]\npolicies:\n  p:\n"
                             "    statements: [select]\n";
    const auto loaded = config::load_text(head + "    mask: {pii: hash, public.u.note: redact}\n    mask_key_env: K\n"
                                                 "    mask_hash_length: 12\n"
                                                 "    tables: {public.t: {mask: {email: email_domain}}, public.u: {}}\n",
                                          "/etc/pgsieve/pgsieve.yaml", env.get());
    REQUIRE(loaded);
    const auto& p = *(*loaded)->find_policy("p");
    using m = config::mask_method;
    // The label's columns in listed tables (not hr.e), the table's own mask winning.
    CHECK(p.masks == std::map<config::column_name, m>{{{{"public", "t"}, "email"}, m::email_domain},
                                                      {{{"public", "t"}, "ssn"}, m::hash},
                                                      {{{"public", "u"}, "note"}, m::redact}});
    CHECK(p.mask_key == std::string(32, 'k'));
    CHECK(p.mask_hash_length == 12);
    const std::string tables = "    tables: {public.t: {}}\n";
    const auto scramble = test::load_errors(head + "    mask: {pii: scramble}\n" + tables, env);
    REQUIRE(scramble.size() == 1);
    INFO(scramble.front());
    CHECK(scramble.front().starts_with("8: policies.p.mask.pii: "));
    CHECK(scramble.front().find("email_domain") != std::string::npos);
    CHECK(test::load_errors(head + "    mask: {pii: hash}\n" + tables, env) ==
          std::vector<std::string>{"8: policies.p.mask: the hash mask needs a key: mask_key_env or mask_key_file (at "
                                   "least 32 bytes)"});
    CHECK(test::load_errors(head + "    mask: {pii: hash}\n    mask_key_env: SHORT\n" + tables, env).size() == 1);
    CHECK(test::load_errors(head + "    mask: {nolabel: redact}\n" + tables, env) ==
          std::vector<std::string>{"8: policies.p.mask.nolabel: \"nolabel\" is neither a classification label nor "
                                   "schema.table.column"});
    CHECK(test::load_errors(head + "    mask: {public.x.c: redact}\n" + tables, env) ==
          std::vector<std::string>{"8: policies.p.mask: masks column \"public.x.c\" of a table the policy does not list"});
    CHECK(test::load_errors(head + "    accept_classified: [pii]\n    mask: {pii: last4}\n" + tables, env) ==
          std::vector<std::string>{"9: policies.p.mask.pii: label \"pii\" is both read raw (accept_classified) and "
                                   "masked: choose one"});
}
