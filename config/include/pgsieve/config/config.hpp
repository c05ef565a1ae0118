#pragma once
// The configuration contract (spec/pgsieve.example.yaml) as one immutable
// value. A loaded config is shared as shared_ptr<const config> and replaced
// whole on reload, never edited in place.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pgsieve::config {

using duration = std::chrono::milliseconds;

enum class tls_mode { prefer, require };
enum class sslmode { disable, prefer, require, verify_full };
enum class store_sql { full, normalized };
enum class on_failure { block, allow };
enum class on_overflow { wait, drop };
enum class policy_mode { enforce, monitor };
// What a result past max_rows or max_result_bytes gets: ERROR 54000, or its first rows and a NOTICE.
enum class on_exceed { error, truncate };
enum class catalog_access { none, introspection };
enum class statement_kind { select, explain, show, insert, update, delete_, merge };
// What a table entry may grant (`allow:`); a subset of the statement kinds.
enum class table_verb { select, insert, update, delete_, merge };
// What `serve` does when an upstream role holds more than its policies grant.
enum class privilege_check { warn, refuse };

// A schema-qualified name as the catalog stores it (already case-folded,
// never quoted): public.customers, public.plan_label.
struct qualified_name {
    std::string schema;
    std::string name;
    std::string str() const { return schema + "." + name; }
    auto operator<=>(const qualified_name&) const = default;
};

struct column_name {
    qualified_name table;
    std::string column;
    std::string str() const { return table.str() + "." + column; }
    auto operator<=>(const column_name&) const = default;
};

struct tls_settings {
    std::string cert_file;
    std::string key_file;
    tls_mode mode = tls_mode::prefer;
    bool operator==(const tls_settings&) const = default;
};

struct listen_settings {
    std::string address = "127.0.0.1";
    std::uint16_t port = 6432;
    std::optional<tls_settings> tls;
    int max_connections = 500;
    duration auth_timeout = std::chrono::seconds(10);
    duration idle_timeout = std::chrono::minutes(30);  // zero: no idle timeout
    std::uint64_t max_message_bytes = 64ull << 20;
    // Longer statements are refused before they are parsed (DESIGN.md §2
    // limits). The largest statement the drivers, psql and MCP servers of
    // the integration tests send is under 8 KiB; 256 KiB leaves room.
    std::uint64_t max_statement_bytes = 256ull << 10;
    // Statements in one simple Query message (each becomes an audit row).
    std::size_t max_statements_per_query = 100;
    // Parsing and deciding one statement off the I/O threads; past this it is refused.
    duration analysis_timeout = std::chrono::seconds(5);
};

struct admin_settings {
    std::string address = "127.0.0.1";
    std::uint16_t port = 9187;
    bool operator==(const admin_settings&) const = default;
};

// Several replicas behind a load balancer: a CancelRequest may reach a
// replica that did not issue its key; that replica forwards it to its peers.
struct peer_address {
    std::string host;
    std::uint16_t port = 6432;
    // The replica's cluster.instance_id, whose tag its cancel keys carry:
    // `instance:`, else the host's first DNS label (a StatefulSet pod's name,
    // pgsieve-0.pgsieve-peers → pgsieve-0). A name that resolves to several
    // replicas, or an IP address, names none: keys whose tag no named peer
    // has go to those addresses.
    std::string instance;
    bool operator==(const peer_address&) const = default;
};
struct cluster_settings {
    std::string instance_id;  // empty: the host name (serve fills it in)
    std::vector<peer_address> peers;
    // Where this replica takes its peers' forwarded CancelRequests (an IP
    // address and port), open while it drains; required with `peers`, which
    // name the peers' peer_listen.
    std::optional<peer_address> peer_listen;
};

struct upstream_settings {
    std::string host;
    std::uint16_t port = 5432;
    std::string database;
    std::string user;
    std::optional<std::string> password;  // absent: trust (or the server asks and login fails)
    sslmode ssl = sslmode::prefer;
    std::string sslrootcert;
    std::vector<std::string> search_path{"public"};
    duration catalog_refresh = std::chrono::seconds(60);
    // A superuser or BYPASSRLS upstream role stops `serve` unless this is set.
    bool allow_privileged_role = false;
    // Table or column privileges wider than the policies: a warning, or (refuse) no start.
    privilege_check wider_privileges = privilege_check::warn;
    bool operator==(const upstream_settings&) const = default;
};

// Where the audit is shipped off the machine: OTLP/HTTP logs (protobuf).
struct http_endpoint {
    std::string host;
    std::uint16_t port = 4318;
    std::string path = "/v1/logs";
    std::string endpoint;  // as written, for messages
    bool tls = false;      // https://: the certificate is verified, and its name against host
    std::string ca_file;   // https:// only; empty: the system's trusted certificates
    bool operator==(const http_endpoint&) const = default;
};

struct audit_settings {
    std::string sqlite;
    std::optional<http_endpoint> otlp;
    // A central PostgreSQL audit store (not the database the agents query).
    std::optional<upstream_settings> postgresql;
    // A destination whose cursor has not moved for this long while rows wait
    // is stalled: an audit_export_stalled event, a log line and a metric.
    duration stalled_after = std::chrono::minutes(5);
    // Rows older than this, once every export destination has them, leave the file.
    std::optional<duration> retention;
    // HMAC-SHA-256 key signing periodic checkpoints of the chain head
    // (chain_checkpoint events, shipped with the rows).
    std::optional<std::string> checkpoint_key;
    duration checkpoint_interval = std::chrono::seconds(60);
    store_sql sql = store_sql::full;
    on_failure failure = on_failure::block;
    on_overflow overflow = on_overflow::wait;
    duration flush_interval = std::chrono::milliseconds(50);
    // Every audit key is read once, at start, by the sink and the exporters.
    bool operator==(const audit_settings&) const = default;
};

// A client's allowance per fixed window (budgets: {statements: 1000/1h, …}).
// Windows are aligned to the UTC epoch: a 1h budget resets on the hour, a
// 1d one at 00:00Z. Counted per client identity on each replica.
enum class budget_kind { statements, rows, bytes, statement_time };
struct budget {
    budget_kind kind = budget_kind::statements;
    std::uint64_t limit = 0;  // statements, rows, bytes, or microseconds of statement time
    duration window{0};
    bool operator==(const budget&) const = default;
};

struct client {
    std::string name;
    std::string verifier;  // SCRAM-SHA-256$…, validated (plain passwords are hashed at load)
    std::string policy;
    std::optional<int> max_connections;
    // Bound upstream as pgsieve.<name> = value for the session (row-level security reads them).
    std::map<std::string, std::string> attributes;
    std::vector<budget> budgets;  // overriding its policy's, kind by kind
};

// Row scoping: PostgreSQL's row-level security shows a client only the rows
// whose `column` equals the client's `attribute` (pgsieve grants writes the policy).
struct row_scope {
    std::string column;
    std::string attribute;
};

struct table_grant {
    qualified_name table;
    std::optional<std::vector<std::string>> columns;  // allowlist; absent means every column
    std::vector<std::string> deny_columns;
    std::set<table_verb> allow{table_verb::select};
    std::optional<row_scope> rows;
    // Business context served to the model where discovery reads descriptions.
    std::string description;
    std::map<std::string, std::string> column_descriptions;
    // UPDATE and DELETE without a WHERE clause that limits the rows by a
    // column of the table are refused unless this is set.
    bool unbounded_writes = false;
    // A write changing more rows of the table than this is rolled back and
    // refused (0: no limit); the session runs it in a transaction it controls.
    std::uint64_t max_rows_written = 0;
    int line = 0;  // where the entry is in the file (policy lint)
};

// Writes held for a human (`approval:`): a write of a listed kind to a
// listed table is not run; it is counted and refused with a ticket that
// `pgsieve approve` decides, and runs when sent again once approved.
struct approval_rule {
    std::set<table_verb> statements;       // insert, update, delete; empty: every write
    std::set<qualified_name> tables;       // empty: every table
    duration timeout = std::chrono::minutes(15);
    std::optional<http_endpoint> webhook;  // told of every held write
    std::string webhook_secret;            // signs its body (HMAC-SHA-256)
    int line = 0;
    bool holds(table_verb verb, const qualified_name& table) const {
        return (statements.empty() || statements.contains(verb)) && (tables.empty() || tables.contains(table));
    }
};

// How a masked column's values reach a client (DESIGN.md §3): as text, in
// place of the value (NULL stays NULL).
enum class mask_method {
    redact,        // a fixed text (the policy's mask_redact_text, default ***)
    null,          // NULL
    hash,          // HMAC-SHA-256 of the value under the policy's mask key, hex, mask_hash_length digits
    last4,         // the last four characters; the others replaced by *
    first4,        // the first four characters; the others replaced by *
    email_domain,  // *** and the part from the last @ on; *** without an @
};
std::string_view to_string(mask_method m);

struct policy {
    std::string name;
    std::string owner;
    std::string description;
    policy_mode mode = policy_mode::enforce;
    std::set<statement_kind> statements;
    catalog_access catalog = catalog_access::none;
    std::set<std::string> accept_classified;
    // Why each accepted label may be read raw (`accept_classified: {pii: {reason: …}}`); the list form gives none.
    std::map<std::string, std::string> classified_reasons;
    std::optional<std::uint64_t> max_rows;
    std::optional<std::uint64_t> max_result_bytes;  // the DataRows of one result, as sent
    config::on_exceed on_exceed = config::on_exceed::error;
    std::optional<duration> statement_timeout;
    std::vector<budget> budgets;
    std::vector<qualified_name> functions;
    std::map<qualified_name, table_grant> tables;
    std::optional<approval_rule> approval;
    // Columns this policy sees only masked (from `mask:` by label or column,
    // and each table's `mask:`), readable only as a bare projection.
    std::map<column_name, mask_method> masks;
    std::string mask_key;             // mask_key_env / mask_key_file: the HMAC key of `hash`
    std::size_t mask_hash_length = 16;  // hex digits of a hashed value
    std::string mask_redact_text = "***";
    // The policy's own least-privilege upstream role; empty: upstream.user.
    std::string upstream_user;
    std::optional<std::string> upstream_password;
    // Where the policy and each of its keys are in the file (policy lint).
    int line = 0;
    std::map<std::string, int> key_lines;

    // Whether any write statement kind is granted (insert, update, delete, merge).
    bool writes() const;
};

// Something legal but probably not meant, reported by check-config and at start.
struct warning {
    int line = 0;
    std::string key;
    std::string message;
};

struct config {
    std::string source_path;  // the file it came from
    std::string source_text;  // its exact text, for the audit's policy_versions
    std::string version;      // a hash of source_text: the audit's policy_version
    // A hash of what decides a statement (classification, policies, clients,
    // as parsed): equal on every replica of a fleet that shares them, even
    // when their listen or cluster sections differ. An approval binds it.
    std::string grants_version;
    listen_settings listen;
    std::optional<admin_settings> admin;
    cluster_settings cluster;
    upstream_settings upstream;
    audit_settings audit;
    std::map<std::string, std::set<column_name>> classification;  // label → columns
    std::vector<client> clients;
    std::map<std::string, policy> policies;
    std::vector<warning> warnings;

    const client* find_client(std::string_view name) const;
    const policy* find_policy(std::string_view name) const;
    // A client's budgets: its policy's, with the client's own in their place.
    std::vector<budget> budgets_of(const client& c) const;
    // The role and password a policy's sessions log in upstream with.
    const std::string& upstream_user_of(const policy& p) const;
    const std::optional<std::string>& upstream_password_of(const policy& p) const;
    // Every role pgsieve logs in upstream as (upstream.user and the policies' own), sorted.
    std::vector<std::string> upstream_roles() const;
};

// The keys a running server takes only at start, named as in the file, that
// differ between `a` and `b` (a reload changing any is refused whole). The
// one list of them: listen (but its per-statement limits), admin,
// cluster.instance_id and peer_listen, upstream.host/port/database/sslmode/
// sslrootcert, and the whole audit section (the sink and the exporters read
// it once — their passwords and TLS settings included). Whole sections are
// compared with their operator==, so a key added to one is covered.
[[nodiscard]] std::vector<std::string> restart_only_changes(const config& a, const config& b);

std::string_view to_string(tls_mode);
std::string_view to_string(sslmode);
std::string_view to_string(store_sql);
std::string_view to_string(on_failure);
std::string_view to_string(on_overflow);
std::string_view to_string(policy_mode);
std::string_view to_string(on_exceed);
std::string_view to_string(budget_kind);
std::string_view to_string(catalog_access);
std::string_view to_string(statement_kind);
std::string_view to_string(table_verb);
std::string_view to_string(privilege_check);

}  // namespace pgsieve::config
