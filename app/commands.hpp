#pragma once
// One function per subcommand; each returns the process exit code.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace pgsieve::config {
struct load_error;
}
namespace pgsieve::audit {
class review;
}

namespace pgsieve::cli {

// Exit codes shared by the subcommands.
inline constexpr int exit_ok = 0;
inline constexpr int exit_refused = 1;  // check: the statement is refused
inline constexpr int exit_usage = 2;    // bad arguments, bad configuration, bad input

// Prints each error as FILE:LINE: key: message, then a count line.
void print_config_errors(const std::vector<config::load_error>& errors, const std::string& file,
                         std::string_view consequence = {});

struct passwd_options {
    std::string name;
    int iterations = 0;
};
int run_passwd(const passwd_options& options);

struct serve_options {
    std::string config_file;
    int threads = 0;
    int shutdown_grace_seconds = 30;
    bool watch_config = false;
};
int run_serve(const serve_options& options);

struct check_options {
    std::string config_file;
    std::string client;
    std::string sql;
    bool json = false;
    bool batch = false;  // NUL-separated statements on stdin, one JSON line each
    bool schema = false;  // what the client's discovery shows
};
int run_check(const check_options& options);
// pgsieve check --schema: the client's discovery, run through its policy.
int print_schema(const config::config& cfg, const config::client& client, const policy::catalog& catalog);

struct grants_options {
    std::string config_file;
    std::string policy;      // empty: every policy's role
    std::string connect_as;  // empty: upstream.user
};
int run_grants(const grants_options& options);

struct builtins_options {
    std::string only_class;  // allowed | guarded | setting | refused; empty: all
};
int run_builtins(const builtins_options& options);

struct dump_catalog_options {
    std::string config_file;
};
int run_dump_catalog(const dump_catalog_options& options);

struct check_config_options {
    std::string config_file;
    bool upstream = false;  // also check the upstream roles (the DBA's doctor before going live)
};
int run_check_config(const check_config_options& options);

struct approve_options {
    std::string ticket;
    bool reject = false;
    std::string reason;
    std::string by;  // default: $SUDO_USER, $USER
    std::string config_file;
    std::string db;
};
int run_approve(const approve_options& options);

struct audit_options {
    std::string command;  // list, show, stats, export, verify, policies
    std::string config_file;
    std::vector<std::string> db;  // files, and/or postgresql://… (the central store; password from PGPASSWORD)
    std::string instance;         // with the central store: whose rows (all replicas' when empty)
    std::string against;   // verify: the central store to hold the file against
    std::string key_env;   // verify: the checkpoint key's environment variable
    bool json = false;
    bool blocked = false;
    std::string client;
    std::string policy;  // policies: only this policy's history
    std::string table;
    std::string since;
    std::int64_t limit = 50;
    std::int64_t id = 0;
    std::string format = "jsonl";
};
// verify: exit 0 intact, 1 tampered; every command: 2 on errors.
int run_audit(const audit_options& options);

// audit policies: each policy's versions, owners and diffs.
int run_audit_policies(audit::review& review, const audit_options& options);

struct policy_options {
    std::string command;       // test, propose, lint
    std::string candidate;     // test: the configuration under test
    std::string config_file;   // the configuration in force (test: the baseline, when given)
    std::vector<std::string> db;  // audit logs, or the central store
    std::string instance;
    std::string since;
    std::string client;
    std::string policy;
    std::string catalog_file;  // a `pgsieve dump-catalog` snapshot instead of the live catalog
    bool json = false;
    std::string fail_on;       // test: newly-allowed | newly-refused | newly-allowed-classified
    std::string name;          // propose: the draft policy's name
    std::string format = "text";  // lint: text | json | sarif
    bool upstream = false;     // lint: also the upstream roles
    bool audit = false;        // lint: also grants unused in the audit
    std::string unused_since = "30d";
};
// test: 0 no verdict changes, 1 verdicts change; lint: 1 warnings or errors; 2 on errors.
int run_policy(const policy_options& options);

struct store_init_options {
    std::string url;                   // the central store, as its owner
    std::vector<std::string> writers;  // ROLE=INSTANCE
    std::vector<std::string> readers;
    std::vector<std::string> approvers;  // people who decide writes held for approval (pgsieve approve)
    bool print = false;
};
int run_store_init(const store_init_options& options);

}  // namespace pgsieve::cli
