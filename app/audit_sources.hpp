#pragma once
// The audit logs a review or policy command reads: files named with --db,
// the central store's replicas (postgresql://…), or the audit.sqlite of a
// configuration — opened as one review.

#include <pgsieve/audit/review.hpp>
#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/load.hpp>

#include <string>
#include <vector>

namespace pgsieve::cli {

// Files as they are, the central store's replicas fetched into a temporary
// directory (removed with this) where every review command, verify
// included, reads them as it reads a replica's own file.
class review_sources {
public:
    review_sources() = default;
    review_sources(const review_sources&) = delete;
    review_sources& operator=(const review_sources&) = delete;
    ~review_sources();

    std::vector<audit::review_source> all;

    void add_file(const std::string& path) { all.push_back({path, path}); }
    // One replica's rows, or (`instance` empty) every replica's, each a log
    // of its own labelled with its instance id.
    expected<void, std::string> add_store(const std::string& url, const std::string& instance);
    // Each of `db` (a file or the store's URL); none: the audit.sqlite of `config_file`.
    expected<void, std::string> add(const std::vector<std::string>& db, const std::string& instance,
                                    const std::string& config_file);

private:
    std::string dir_;
};

// The system's environment, where a secret or file the configuration names
// that is missing reads as a placeholder: for commands that read a
// configuration without serving it (review, lint, replay), which a CI job
// runs without the production secrets. A command that logs in upstream
// with a placeholder password fails there, naming the server's refusal.
config::environment secrets_optional(const std::string& config_file);

// The audit.sqlite a configuration names. Secrets it names need not be
// present to find it.
expected<std::string, std::string> audit_file_of(const std::string& config_file);

}  // namespace pgsieve::cli
