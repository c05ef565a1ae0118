// pgsieve audit store-init: the central audit store's owner makes its schema
// and registers each replica's role, which may then only append as the one
// instance it is bound to (DESIGN.md §4).

#include "commands.hpp"
#include "store_url.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <fmt/format.h>

#include <iostream>

namespace pgsieve::cli {

int run_store_init(const store_init_options& o) {
    std::vector<audit::store_writer> writers;
    for (const auto& w : o.writers) {
        const auto eq = w.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == w.size()) {
            std::cerr << "pgsieve audit store-init: --writer " << w
                      << " is not ROLE=INSTANCE (the role a replica ships as, and its cluster.instance_id)\n";
            return exit_usage;
        }
        writers.push_back({w.substr(0, eq), w.substr(eq + 1)});
    }
    for (const auto* roles : {&o.readers, &o.approvers}) {
        for (const auto& r : *roles) {
            if (r.empty()) {
                std::cerr << "pgsieve audit store-init: --reader and --approver need a role name\n";
                return exit_usage;
            }
        }
    }
    const auto sql = audit::central_store_init_sql(writers, o.readers, o.approvers);
    if (o.print) {
        std::cout << sql;
        return exit_ok;
    }
    if (o.url.empty()) {
        std::cerr << "pgsieve audit store-init: name the store (postgresql://OWNER@HOST:PORT/DATABASE), or --print\n";
        return exit_usage;
    }
    const auto server = store_address(o.url);
    if (!server) {
        std::cerr << "pgsieve audit store-init: " << server.error() << "\n";
        return exit_usage;
    }
    if (const auto done = net::query_server(*server, server->user, server->password, {sql}, "pgsieve audit store-init");
        !done) {
        std::cerr << "pgsieve audit store-init: " << done.error().message << "\n";
        return exit_usage;
    }
    std::cout << fmt::format("the central audit store in {} is ready, owned by {}\n", server->database, server->user);
    for (const auto& w : writers)
        std::cout << fmt::format("  role {} may append as instance {}, and nothing more\n", w.role, w.instance);
    for (const auto& r : o.readers) std::cout << fmt::format("  role {} may read every row\n", r);
    for (const auto& a : o.approvers)
        std::cout << fmt::format("  role {} may decide writes held for approval (pgsieve approve)\n", a);
    return exit_ok;
}

}  // namespace pgsieve::cli
