// pgsieve approve TICKET [--reject] [--reason TEXT] [--by NAME] (-c FILE | --db FILE|URL):
// a person's decision on a write held for approval. It shows what the
// ticket binds — client, policy, statement, parameters, row count — and
// records the decision: in the audit file of a single replica, where the
// serving pgsieve reads it back within a second; or, for a fleet, in the
// central audit store (--db postgresql://APPROVER@…), as the approver's own
// role, where every replica reads it. The client then sends the same
// statement again, through any replica.

#include "audit_sources.hpp"
#include "commands.hpp"
#include "store_url.hpp"

#include <pgsieve/audit/approvals.hpp>
#include <pgsieve/common/time.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

namespace pgsieve::cli {

namespace {

std::string who_decides(const std::string& by) {
    if (!by.empty()) return by;
    for (const char* name : {"SUDO_USER", "USER", "LOGNAME"})
        if (const char* v = std::getenv(name); v && *v) return v;
    return {};
}

// Where the ticket is: a replica's audit file, or the central store.
class ticket_source {
public:
    static expected<ticket_source, std::string> of(const approve_options& options) {
        ticket_source s;
        if (options.db.starts_with("postgresql://") || options.db.starts_with("postgres://")) {
            auto server = store_address(options.db);
            if (!server) return unexpected(server.error());
            s.store_ = std::move(*server);
            s.name_ = fmt::format("the central store {}:{}/{}", s.store_->host, s.store_->port, s.store_->database);
            return s;
        }
        s.name_ = options.db;
        if (!s.name_.empty()) return s;
        if (options.config_file.empty())
            return unexpected(std::string("give -c CONFIG (its audit.sqlite), --db FILE, or a fleet's central store "
                                          "--db postgresql://APPROVER@HOST:PORT/DATABASE"));
        const auto loaded = config::load_file(options.config_file, secrets_optional(options.config_file));
        if (!loaded) {
            print_config_errors(loaded.error(), options.config_file);
            return unexpected(std::string("cannot find the tickets in an invalid configuration; use --db"));
        }
        if (const auto& store = (*loaded)->audit.postgresql)
            // The replica's own role may not decide (a compromised replica
            // would approve its own writes): the person logs in as an approver.
            return unexpected(fmt::format("this configuration keeps approvals in the central store: decide as an "
                                          "approver role (pgsieve audit store-init --approver ROLE): pgsieve approve "
                                          "{} --db postgresql://ROLE@{}:{}/{} (password from PGPASSWORD)",
                                          options.ticket, store->host, store->port, store->database));
        s.name_ = (*loaded)->audit.sqlite;
        return s;
    }
    const std::string& name() const { return name_; }

    expected<std::optional<audit::approval_record>, std::string> find(const std::string& ticket) const {
        if (!store_) return audit::find_approval(name_, ticket);
        auto rows = net::query_server(*store_, store_->user, store_->password, audit::store_find_approval_sql(ticket),
                                      "pgsieve approve");
        if (!rows) return unexpected(rows.error().message);
        return audit::approval_from_store(*rows);
    }
    expected<void, std::string> record(const audit::approval_decision& d) const {
        if (!store_) return audit::record_approval_decision(name_, d);
        auto done = net::query_server(*store_, store_->user, store_->password, {audit::store_decide_approval_sql(d)},
                                      "pgsieve approve");
        if (!done) return unexpected(done.error().message);
        return {};
    }

private:
    std::string name_;
    std::optional<config::upstream_settings> store_;
};

}  // namespace

int run_approve(const approve_options& options) {
    const auto source = ticket_source::of(options);
    if (!source) {
        std::cerr << "pgsieve approve: " << source.error() << "\n";
        return exit_usage;
    }
    const auto found = source->find(options.ticket);
    if (!found) {
        std::cerr << "pgsieve approve: " << source->name() << ": " << found.error() << "\n";
        return exit_usage;
    }
    if (!*found) {
        std::cerr << "pgsieve approve: no ticket " << options.ticket << " in " << source->name() << "\n";
        return exit_usage;
    }
    const auto& ticket = **found;
    std::cout << "ticket      " << options.ticket << "\n"
              << "client      " << ticket.client << " (policy " << ticket.policy << ")\n"
              << "statement   " << ticket.sql << "\n"
              << "parameters  " << ticket.parameters << "\n"
              << "changes     " << ticket.rows << " rows of " << ticket.table << " (" << ticket.command << ")\n"
              << "expires     " << ticket.expires_at << " unless decided\n";
    if (ticket.decision) {
        std::cerr << "pgsieve approve: ticket " << options.ticket << " was "
                  << (ticket.decision->approved ? "approved" : "rejected")
                  << (ticket.decision->decided_by.empty() ? "" : " by " + ticket.decision->decided_by) << " at "
                  << ticket.decision->decided_at << " already\n";
        return exit_refused;
    }
    const auto now = rfc3339(std::chrono::system_clock::now());
    if (ticket.used) {
        std::cerr << "pgsieve approve: ticket " << options.ticket << " was used already\n";
        return exit_refused;
    }
    if (ticket.expires_at <= now) {
        std::cerr << "pgsieve approve: ticket " << options.ticket << " expired; the client must send the statement "
                  << "again for a new ticket\n";
        return exit_refused;
    }
    if (options.reason.size() > 1000) {
        std::cerr << "pgsieve approve: --reason is limited to 1000 characters\n";
        return exit_usage;
    }
    audit::approval_decision d;
    d.ticket = options.ticket;
    d.approved = !options.reject;
    d.reason = options.reason;
    d.decided_by = who_decides(options.by);
    d.decided_at = now;
    if (auto r = source->record(d); !r) {
        std::cerr << "pgsieve approve: " << r.error() << "\n";
        return exit_refused;
    }
    if (d.approved)
        std::cout << "approved: the client may now send the same statement again; it runs once, and only if it "
                     "changes exactly "
                  << ticket.rows << " rows\n";
    else
        std::cout << "rejected: the client is told so when it sends the statement again\n";
    return exit_ok;
}

}  // namespace pgsieve::cli
