// pgsieve approve TICKET [--reject] [--reason TEXT] [--by NAME] (-c FILE | --db FILE):
// a person's decision on a write held for approval. It shows what the
// ticket binds — client, policy, statement, parameters, row count — and
// records the decision in the audit file, where the serving pgsieve reads
// it back within a second; the client then sends the same statement again.

#include "audit_sources.hpp"
#include "commands.hpp"

#include <pgsieve/audit/approvals.hpp>
#include <pgsieve/common/time.hpp>

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

}  // namespace

int run_approve(const approve_options& options) {
    std::string file = options.db;
    if (file.empty()) {
        if (options.config_file.empty()) {
            std::cerr << "pgsieve approve: give -c CONFIG (its audit.sqlite) or --db FILE\n";
            return exit_usage;
        }
        auto named = audit_file_of(options.config_file);
        if (!named) {
            std::cerr << "pgsieve approve: " << named.error() << "\n";
            return exit_usage;
        }
        file = *named;
    }
    const auto found = audit::find_approval(file, options.ticket);
    if (!found) {
        std::cerr << "pgsieve approve: " << file << ": " << found.error() << "\n";
        return exit_usage;
    }
    if (!*found) {
        std::cerr << "pgsieve approve: no ticket " << options.ticket << " in " << file << "\n";
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
    if (auto r = audit::record_approval_decision(file, d); !r) {
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
