// The audit logs a review or policy command reads (audit_sources.hpp).

#include "audit_sources.hpp"
#include "commands.hpp"
#include "store_url.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

namespace pgsieve::cli {

namespace {
// Rows of each table read from the central store at a time: what a review
// holds in memory, whatever the store's size.
constexpr std::size_t store_page_rows = 5000;

}  // namespace

config::environment secrets_optional(const std::string& config_file) {
    auto env = config::environment::system();
    const auto real_getenv = env.getenv;
    const auto real_read = env.read_file;
    env.getenv = [real_getenv](const std::string& name) {
        return real_getenv(name).value_or("(not set: not needed by this command)");
    };
    env.read_file = [real_read, config_file](const std::string& path) -> std::optional<std::string> {
        auto text = real_read(path);
        if (text || path == config_file) return text;
        return std::string("(not readable: not needed by this command)");
    };
    return env;
}

expected<std::string, std::string> audit_file_of(const std::string& config_file) {
    if (config_file.empty()) return unexpected(std::string("name the audit log with --db FILE or -c CONFIG"));
    const auto loaded = config::load_file(config_file, secrets_optional(config_file));
    if (!loaded) {
        print_config_errors(loaded.error(), config_file);
        return unexpected(std::string("cannot find the audit log in an invalid configuration; use --db FILE"));
    }
    return (*loaded)->audit.sqlite;
}

review_sources::~review_sources() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

expected<void, std::string> review_sources::add_store(const std::string& url, const std::string& instance) {
    const auto server = store_address(url);
    if (!server) return unexpected(server.error());
    // One session for every page.
    net::server_client store(*server, server->user, server->password, "pgsieve audit");
    const auto query = [&](std::vector<std::string> queries)
        -> expected<std::vector<std::vector<policy::row>>, std::string> {
        auto rows = store.query(queries);
        if (!rows) return unexpected(std::move(rows.error().message));
        return std::move(*rows);
    };
    std::vector<std::string> instances{instance};
    if (instance.empty()) {
        const auto listed = query({std::string(audit::central_store_instances)});
        if (!listed) return unexpected(listed.error());
        instances.clear();
        for (const auto& row : (*listed)[0]) instances.push_back(row[0].value_or(""));
        if (instances.empty()) return unexpected(fmt::format("{}: the central store holds no rows yet", url));
    }
    if (dir_.empty()) {
        char dir_template[] = "/tmp/pgsieve-review.XXXXXX";
        const char* dir = mkdtemp(dir_template);
        if (!dir) return unexpected(std::string("cannot make a temporary directory"));
        dir_ = dir;
    }
    for (const auto& name : instances) {
        // Named by position only: an instance id is text from the store, never a path.
        const auto path = fmt::format("{}/{}.db", dir_, all.size());
        if (const auto opened = query(audit::central_store_open(name)); !opened) return unexpected(opened.error());
        for (bool first = true;; first = false) {
            const auto rows = query(audit::central_store_page(name, first, store_page_rows));
            if (!rows) return unexpected(rows.error());
            const bool empty = std::all_of(rows->begin(), rows->end(), [](const auto& r) { return r.empty(); });
            if (empty && first)
                return unexpected(fmt::format("the central store holds nothing of instance \"{}\"", name));
            if (empty) break;
            if (auto r = audit::import_central_rows(path, *rows); !r)
                return unexpected(fmt::format("the central store's rows of instance \"{}\" are not an audit "
                                              "log: {}",
                                              name, r.error()));
            if ((*rows)[0].size() < store_page_rows && (*rows)[1].size() < store_page_rows &&
                (*rows)[2].size() < store_page_rows)
                break;
        }
        if (const auto closed = query({"COMMIT"}); !closed) return unexpected(closed.error());
        all.push_back({name, path});
    }
    return {};
}

expected<void, std::string> review_sources::add(const std::vector<std::string>& db, const std::string& instance,
                                                const std::string& config_file) {
    for (const auto& d : db) {
        if (d.starts_with("postgresql://")) {
            if (auto r = add_store(d, instance); !r) return r;
        } else {
            add_file(d);
        }
    }
    if (db.empty()) {
        const auto file = audit_file_of(config_file);
        if (!file) return unexpected(file.error());
        add_file(*file);
    }
    return {};
}

}  // namespace pgsieve::cli
