// pgsieve grants -c FILE [--policy P] [--connect-as ROLE]: the SQL that makes each upstream role
// hold exactly what its policies grant (DESIGN.md §1, the second wall). It
// reads the upstream catalog to expand column lists; it never runs the SQL.

#include "commands.hpp"

#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/policy/grants.hpp>

#include <cstdlib>
#include <iostream>

namespace pgsieve::cli {

int run_grants(const grants_options& options) {
    const auto loaded = config::load_file(options.config_file);
    if (!loaded) {
        print_config_errors(loaded.error(), options.config_file);
        return exit_usage;
    }
    const auto& cfg = **loaded;
    // Before its roles exist, the catalog is read as someone who can log in:
    // the DBA who will run the SQL. Only the catalog read uses that identity.
    auto reader = cfg;
    if (!options.connect_as.empty()) {
        reader.upstream.user = options.connect_as;
        const char* password = std::getenv("PGPASSWORD");
        reader.upstream.password = password && *password ? std::optional<std::string>(password) : std::nullopt;
    }
    const auto catalog = net::load_catalog(reader);
    if (!catalog) {
        std::cerr << "pgsieve grants: cannot read the catalog from the " << catalog.error() << "\n";
        return exit_usage;
    }
    const auto grants = policy::role_grants(cfg, **catalog, options.policy);
    if (!grants) {
        std::cerr << "pgsieve grants: " << grants.error() << "\n";
        return exit_usage;
    }
    std::cout << policy::grants_sql(cfg, *grants);
    return std::cout ? exit_ok : exit_usage;
}

}  // namespace pgsieve::cli
