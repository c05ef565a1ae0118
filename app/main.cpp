// pgsieve: a PostgreSQL wire-protocol proxy that enforces per-client policy.

#include "commands.hpp"

#include <pgsieve/wire/scram.hpp>

#include <CLI/CLI.hpp>

#include <iostream>

namespace cli = pgsieve::cli;

int main(int argc, char** argv) {
    CLI::App app{"pgsieve — a PostgreSQL proxy that lets AI clients read only what their policy grants", "pgsieve"};
    app.set_version_flag("--version", PGSIEVE_VERSION);
    app.require_subcommand(1);

    cli::serve_options serve;
    auto* serve_cmd = app.add_subcommand("serve", "Run the proxy (SIGTERM or SIGINT: stop accepting, drain, exit)");
    serve_cmd->add_option("-c,--config", serve.config_file, "configuration file")->required();
    serve_cmd->add_option("--threads", serve.threads, "worker threads (default: one per core)")
        ->check(CLI::Range(0, 256));
    serve_cmd->add_option("--shutdown-grace", serve.shutdown_grace_seconds,
                          "seconds sessions may finish after SIGTERM before they are ended")
        ->check(CLI::Range(0, 86400))
        ->capture_default_str();
    serve_cmd->add_flag("--watch-config", serve.watch_config,
                        "reload when the configuration file's content changes (checked every 2 s), as on SIGHUP: "
                        "for a Kubernetes ConfigMap or a file other tooling manages");

    cli::check_options check;
    auto* check_cmd = app.add_subcommand(
        "check", "Decide a statement as the client's policy would (exit 0 allowed, 1 refused, 2 error)");
    check_cmd->add_option("-c,--config", check.config_file, "configuration file")->required();
    check_cmd->add_option("--client", check.client, "the client identity whose policy decides")->required();
    check_cmd->add_flag("--json", check.json, "print the decision and what the statement reads as JSON");
    check_cmd->add_flag("--batch", check.batch,
                        "decide many: NUL-separated statements on stdin, one JSON line each (for test harnesses)");
    check_cmd->add_flag("--schema", check.schema,
                        "print what the client's schema discovery shows (schemas, tables, columns, functions, "
                        "descriptions), as it runs through pgsieve");
    auto* check_sql = check_cmd->add_option("SQL", check.sql, "the statement(s) to decide");

    cli::passwd_options passwd;
    passwd.iterations = pgsieve::wire::scram::default_iterations;
    auto* passwd_cmd = app.add_subcommand(
        "passwd", "Read a password on stdin and print its SCRAM-SHA-256 verifier for a `clients:` entry");
    passwd_cmd->add_option("NAME", passwd.name, "the client name the verifier is for")->required();
    passwd_cmd->add_option("--iterations", passwd.iterations, "PBKDF2 iterations")
        ->check(CLI::Range(1, pgsieve::wire::scram::max_iterations))
        ->capture_default_str();

    cli::check_config_options check_config;
    auto* check_config_cmd = app.add_subcommand(
        "check-config", "Validate a configuration file without serving; print its clients and policies");
    check_config_cmd->add_option("-c,--config", check_config.config_file, "configuration file")->required();
    check_config_cmd->add_flag("--upstream", check_config.upstream,
                               "also connect upstream and check each upstream role against its policies "
                               "(superuser, BYPASSRLS, wider privileges, row-level security); exit 1 if serve would "
                               "refuse to start or refuse a policy's clients");

    cli::grants_options grants;
    auto* grants_cmd = app.add_subcommand(
        "grants", "Print the SQL that gives each upstream role exactly what its policies grant (never runs it)");
    grants_cmd->add_option("-c,--config", grants.config_file, "configuration file")->required();
    grants_cmd->add_option("--policy", grants.policy, "only the role of this policy");
    grants_cmd->add_option("--connect-as", grants.connect_as,
                           "read the catalog as this role (password from PGPASSWORD), e.g. the DBA's, when the "
                           "upstream role does not exist yet");

    cli::dump_catalog_options dump_catalog;
    auto* dump_catalog_cmd = app.add_subcommand(
        "dump-catalog", "Print the upstream catalog rows pgsieve decides against (a snapshot for tests)");
    dump_catalog_cmd->add_option("-c,--config", dump_catalog.config_file, "configuration file")->required();

    cli::builtins_options builtins;
    auto* builtins_cmd = app.add_subcommand(
        "builtins", "List PostgreSQL 15's built-in functions as pgsieve classifies them (oid, name, class, reason)");
    builtins_cmd->add_option("--class", builtins.only_class, "only this class")
        ->check(CLI::IsMember({"allowed", "guarded", "setting", "refused"}));

    cli::approve_options approve;
    auto* approve_cmd = app.add_subcommand(
        "approve", "Approve (or --reject) a write held for approval: shows what the ticket binds, records the decision");
    approve_cmd->add_option("TICKET", approve.ticket, "the ticket the client was given (AP-…)")->required();
    approve_cmd->add_flag("--reject", approve.reject, "reject it instead");
    approve_cmd->add_option("--reason", approve.reason, "why (the client is told a rejection's reason)");
    approve_cmd->add_option("--by", approve.by,
                            "who decides (default: $SUDO_USER or $USER; in the central store, the role logged in as)");
    approve_cmd->add_option("-c,--config", approve.config_file, "configuration file (its audit.sqlite)");
    approve_cmd->add_option("--db", approve.db,
                            "the audit file of the replica that holds the ticket, or a fleet's central store: "
                            "postgresql://APPROVER@HOST:PORT/DATABASE (password from PGPASSWORD)");

    cli::audit_options audit;
    auto* audit_cmd = app.add_subcommand("audit", "Review the audit log: what ran, what was refused, for whom, why");
    audit_cmd->require_subcommand(1);
    auto audit_leaf = [&](const char* name, const char* description) {
        auto* c = audit_cmd->add_subcommand(name, description);
        c->add_option("-c,--config", audit.config_file, "configuration file (its audit.sqlite)");
        c->add_option("--db", audit.db,
                      "an audit database file, or the central store: postgresql://USER@HOST:PORT/DATABASE"
                      "[?sslmode=disable|require] (password from PGPASSWORD); repeat to review several as one");
        c->add_option("--instance", audit.instance,
                      "with the central store: the replica (cluster.instance_id) to review; all of them if not given");
        c->callback([&audit, name] { audit.command = name; });
        return c;
    };
    auto add_filters = [&](CLI::App* c) {
        c->add_option("--since", audit.since, "only statements since: 90s, 30m, 1h, 7d, or a UTC time");
        c->add_option("--client", audit.client, "only this client");
        c->add_option("--table", audit.table, "only statements on this table (schema.table or table)");
        c->add_flag("--blocked", audit.blocked, "only refused statements (blocked and would_block)");
    };
    auto* audit_list = audit_leaf("list", "Recent statements, newest first");
    add_filters(audit_list);
    audit_list->add_option("--limit", audit.limit, "at most this many (0: all)")->capture_default_str();
    audit_list->add_flag("--json", audit.json, "JSON for tools");
    auto* audit_show = audit_leaf("show", "One statement in full, with its session and the policy text in force");
    audit_show->add_option("ID", audit.id, "statement id (from audit list)")->required();
    audit_show->add_flag("--json", audit.json, "JSON for tools");
    auto* audit_stats = audit_leaf("stats", "Verdicts by client, top refusals and rules, top tables, by hour");
    audit_stats->add_option("--since", audit.since, "only statements since: 90s, 30m, 24h, 7d, or a UTC time");
    audit_stats->add_flag("--json", audit.json, "JSON for tools");
    auto* audit_export = audit_leaf("export", "Every statement column, oldest first");
    add_filters(audit_export);
    audit_export->add_option("--format", audit.format, "jsonl or csv")
        ->check(CLI::IsMember({"jsonl", "csv"}))
        ->capture_default_str();
    auto* audit_verify =
        audit_leaf("verify", "Recompute the hash chain; name the first statement that does not match (exit 1)");
    audit_verify->add_option("--against", audit.against,
                             "also hold the file against the rows this replica shipped to the central store "
                             "(postgresql://…, with --instance): rows deleted or rewritten since are found");
    audit_verify->add_option("--key-env", audit.key_env,
                             "check the signed chain checkpoints with the key in this environment variable "
                             "(audit.checkpoint_key_env)");
    auto* audit_policies = audit_leaf("policies", "Each policy's history: the versions that changed it, when, its owner, "
                                                  "and a diff against the version before");
    audit_policies->add_option("--policy", audit.policy, "only this policy");
    audit_policies->add_flag("--json", audit.json, "JSON for tools");
    cli::store_init_options store_init;
    auto* store_init_cmd = audit_cmd->add_subcommand(
        "store-init", "Make the central audit store as its owner, and register each replica's role (may only append)");
    store_init_cmd->add_option("URL", store_init.url,
                               "the store, connected to as its owner: postgresql://OWNER@HOST:PORT/DATABASE "
                               "(password from PGPASSWORD)");
    store_init_cmd->add_option("--writer", store_init.writers,
                               "ROLE=INSTANCE: the role a replica ships as, bound to its cluster.instance_id "
                               "(repeat for each replica)");
    store_init_cmd->add_option("--reader", store_init.readers,
                               "a role that may read every row (the review commands' --db postgresql://…)");
    store_init_cmd->add_option("--approver", store_init.approvers,
                               "a role that may decide writes held for approval in a fleet (pgsieve approve "
                               "TICKET --db postgresql://ROLE@…): reads the tickets, records decisions as itself");
    store_init_cmd->add_flag("--print", store_init.print, "print the SQL instead of running it");

    cli::policy_options policy;
    auto* policy_cmd = app.add_subcommand("policy", "Own the policy: replay a change, draft a least-privilege policy, lint");
    policy_cmd->require_subcommand(1);
    auto add_audit_source = [&](CLI::App* c) {
        c->add_option("--db", policy.db,
                      "an audit database file, or the central store postgresql://… (repeat to read several); "
                      "default: the configuration's audit.sqlite");
        c->add_option("--instance", policy.instance, "with the central store: only this replica's rows");
        c->add_option("--catalog", policy.catalog_file,
                      "decide against this `pgsieve dump-catalog` snapshot instead of the upstream's live catalog");
    };
    auto* policy_test = policy_cmd->add_subcommand(
        "test", "Replay recorded statements under a candidate configuration and print what changes (exit 0 nothing, "
                "1 verdicts change, 2 error)");
    policy_test->add_option("NEW", policy.candidate, "the candidate configuration")->required();
    policy_test->add_option("-c,--config", policy.config_file,
                            "the configuration in force: decide both now and compare (default: compare with the "
                            "verdicts the audit recorded)");
    add_audit_source(policy_test);
    policy_test->add_option("--since", policy.since, "only statements since: 30d, 24h, or a UTC time");
    policy_test->add_option("--client", policy.client, "only this client's statements");
    policy_test->add_option("--policy", policy.policy, "only statements this policy decided");
    policy_test->add_flag("--json", policy.json, "JSON for tools");
    policy_test->add_option("--fail-on", policy.fail_on,
                            "exit 1 only for this kind of change (newly-allowed-classified: newly allowed statements "
                            "that read classified columns)")
        ->check(CLI::IsMember({"newly-allowed", "newly-refused", "newly-allowed-classified"}));
    policy_test->callback([&policy] { policy.command = "test"; });
    auto* policy_propose = policy_cmd->add_subcommand(
        "propose", "Draft the least policy that allows what a client ran (YAML, every grant commented with its use)");
    policy_propose->add_option("-c,--config", policy.config_file, "the configuration in force")->required();
    policy_propose->add_option("--client", policy.client, "the client whose statements it is drawn from")->required();
    policy_propose->add_option("--since", policy.since, "only statements since: 7d, 24h, or a UTC time");
    policy_propose->add_option("--name", policy.name, "the draft's policy name (default: the client's policy's)");
    add_audit_source(policy_propose);
    policy_propose->callback([&policy] { policy.command = "propose"; });
    auto* policy_lint = policy_cmd->add_subcommand(
        "lint", "What a configuration grants wider than it needs to, with file:line and a fix (exit 1 on warnings)");
    policy_lint->add_option("-c,--config", policy.config_file, "configuration file")->required();
    policy_lint->add_option("--format", policy.format, "text, json or sarif")
        ->check(CLI::IsMember({"text", "json", "sarif"}))
        ->capture_default_str();
    policy_lint->add_flag("--upstream", policy.upstream,
                          "also read the upstream: volatile functions, classified columns of whole-table grants, "
                          "upstream roles wider than their policies");
    policy_lint->add_flag("--audit", policy.audit, "also name grants no allowed statement used (in --unused-since)");
    policy_lint->add_option("--unused-since", policy.unused_since, "the audit window for --audit")->capture_default_str();
    add_audit_source(policy_lint);
    policy_lint->callback([&policy] { policy.command = "lint"; });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? cli::exit_ok : cli::exit_usage;
    }

    if (*serve_cmd) return cli::run_serve(serve);
    if (*check_cmd) {
        if (!check.batch && !check.schema && check_sql->count() == 0) {
            std::cerr << "pgsieve check: give the SQL to decide (or --batch to read statements on stdin, or --schema)\n";
            return cli::exit_usage;
        }
        return cli::run_check(check);
    }
    if (*passwd_cmd) return cli::run_passwd(passwd);
    if (*check_config_cmd) return cli::run_check_config(check_config);
    if (*dump_catalog_cmd) return cli::run_dump_catalog(dump_catalog);
    if (*builtins_cmd) return cli::run_builtins(builtins);
    if (*grants_cmd) return cli::run_grants(grants);
    if (*store_init_cmd) return cli::run_store_init(store_init);
    if (*audit_cmd) return cli::run_audit(audit);
    if (*policy_cmd) return cli::run_policy(policy);
    if (*approve_cmd) return cli::run_approve(approve);
    return cli::exit_usage;
}
