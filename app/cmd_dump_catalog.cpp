// pgsieve dump-catalog -c FILE: the upstream catalog rows pgsieve decides
// against, as text, so tests can decide the policy corpus in-process
// against a recorded snapshot (tests/policy_corpus/catalog.txt).

#include "commands.hpp"

#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <iostream>

namespace pgsieve::cli {

int run_dump_catalog(const dump_catalog_options& options) {
    const auto loaded = config::load_file(options.config_file);
    if (!loaded) {
        print_config_errors(loaded.error(), options.config_file);
        return exit_usage;
    }
    const auto rows = net::load_catalog_rows(**loaded);
    if (!rows) {
        std::cerr << "pgsieve dump-catalog: cannot read the catalog from the " << rows.error() << "\n";
        return exit_usage;
    }
    std::cout << policy::dump_catalog_rows(*rows);
    return std::cout ? exit_ok : exit_usage;
}

}  // namespace pgsieve::cli
