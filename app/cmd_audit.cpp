// pgsieve audit list|show|stats|export|verify: incident review of the audit
// log (DESIGN.md §5). Reads the file only; works while pgsieve writes it.

#include "commands.hpp"
#include "store_url.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/review_format.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

namespace pgsieve::cli {

namespace {

// Rows of each table read from the central store at a time: what a review
// holds in memory, whatever the store's size.
constexpr std::size_t store_page_rows = 5000;

// Without --db: audit.sqlite of the configuration. Secrets the
// configuration names need not be present to review its log.
expected<std::string, std::string> audit_file(const audit_options& o) {
    if (o.config_file.empty()) return unexpected(std::string("name the audit log with --db FILE or -c CONFIG"));
    auto env = config::environment::system();
    const auto real_getenv = env.getenv;
    const auto real_read = env.read_file;
    const std::string config_file = o.config_file;
    env.getenv = [real_getenv](const std::string& name) {
        return real_getenv(name).value_or("not needed to review the audit log");
    };
    env.read_file = [real_read, config_file](const std::string& path) -> std::optional<std::string> {
        auto text = real_read(path);
        if (text || path == config_file) return text;
        return std::string("not needed to review the audit log");
    };
    const auto loaded = config::load_file(o.config_file, env);
    if (!loaded) {
        print_config_errors(loaded.error(), o.config_file);
        return unexpected(std::string("cannot find the audit log in an invalid configuration; use --db FILE"));
    }
    return (*loaded)->audit.sqlite;
}

// The logs a command reads: files as they are, the central store's replicas
// fetched into a temporary directory (removed with this) where every review
// command, verify included, reads them as it reads a replica's own file.
class review_sources {
public:
    review_sources() = default;
    review_sources(const review_sources&) = delete;
    review_sources& operator=(const review_sources&) = delete;
    ~review_sources() {
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    std::vector<audit::review_source> all;

    void add_file(const std::string& path) { all.push_back({path, path}); }

    // One replica's rows, or (`instance` empty) every replica's, each a log
    // of its own labelled with its instance id.
    expected<void, std::string> add_store(const std::string& url, const std::string& instance) {
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

private:
    std::string dir_;
};

int list(audit::review& r, const audit::statement_filter& filter, bool json) {
    auto rows = r.list(filter);
    if (!rows) {
        std::cerr << "pgsieve: " << rows.error() << "\n";
        return exit_usage;
    }
    std::cout << (json ? audit::json_rows(*rows) + "\n" : audit::format_table(*rows));
    return exit_ok;
}

int show(audit::review& r, std::int64_t id, bool json) {
    auto sections = r.show(id);
    if (!sections) {
        std::cerr << "pgsieve: " << sections.error() << "\n";
        return exit_usage;
    }
    if (json) {
        std::cout << audit::json_sections(*sections) << "\n";
    } else {
        for (const auto& s : *sections) std::cout << audit::format_vertical(s);
    }
    return exit_ok;
}

int stats(audit::review& r, const std::optional<std::string>& since, bool json) {
    auto sections = r.stats(since);
    if (!sections) {
        std::cerr << "pgsieve: " << sections.error() << "\n";
        return exit_usage;
    }
    if (json) {
        std::cout << audit::json_sections(*sections) << "\n";
        return exit_ok;
    }
    std::cout << "audit statistics " << (since ? "since " + *since : std::string("over the whole log")) << "\n\n";
    for (const auto& s : *sections) std::cout << audit::format_table(s) << "\n";
    return exit_ok;
}

int export_rows(audit::review& r, const audit::statement_filter& filter, const std::string& format) {
    bool header = format == "csv";
    auto result = r.export_statements(filter, [&](const auto& columns, const auto& row) {
        if (format == "csv") {
            if (std::exchange(header, false)) std::cout << audit::csv_header(columns);
            std::cout << audit::csv_row(row);
        } else {
            std::cout << audit::json_object(columns, row) << "\n";
        }
    });
    if (!result) {
        std::cerr << "pgsieve: " << result.error() << "\n";
        return exit_usage;
    }
    return exit_ok;
}

// The signed checkpoints of a source (file or store) under the key.
int verify_signed(audit::review& r, const std::string& source, const std::string& key) {
    const auto result = r.verify_checkpoints(key);
    if (!result) {
        std::cerr << "pgsieve: " << result.error() << "\n";
        return exit_usage;
    }
    if (result->first_bad_id) {
        std::cout << fmt::format("{}: TAMPERED: statement {}: {}\n", source, *result->first_bad_id, result->why);
        return exit_refused;
    }
    std::cout << fmt::format("{}: {} signed checkpoints verified\n", source, result->checked);
    return exit_ok;
}

int verify(audit::review& r, const std::string& file) {
    const auto result = r.verify();
    if (!result) {
        std::cerr << "pgsieve: " << result.error() << "\n";
        return exit_usage;
    }
    if (result->first_bad_id) {
        std::cout << fmt::format("{}: TAMPERED: statement {} does not match: {} ({} rows before it verified)\n", file,
                                 *result->first_bad_id, result->why, result->checked);
        return exit_refused;
    }
    std::cout << fmt::format("{}: intact: {} statements, hash chain verified\n", file, result->checked);
    return exit_ok;
}

}  // namespace

// The file against what the replica shipped: every row the store holds must
// be in the file unchanged (review::compare_shipped). A file whose newest
// rows were deleted, or whose chain was recomputed after an edit, verifies on
// its own; it does not match what left the machine before.
int verify_against(audit::review& local, const std::string& file, const std::string& store,
                   const std::string& instance, const std::optional<std::string>& key) {
    review_sources shipped_rows;
    if (auto r = shipped_rows.add_store(store, instance); !r) {
        std::cerr << "pgsieve: " << r.error() << "\n";
        return exit_usage;
    }
    auto central = audit::review::open(shipped_rows.all.front().path);
    if (!central) {
        std::cerr << "pgsieve: " << central.error() << "\n";
        return exit_usage;
    }
    // With the key, the store's own copy must carry valid signatures first:
    // a store rewritten along with the file cannot re-sign its heads.
    if (key) {
        if (const int signed_ok = verify_signed(*central, store + " instance " + instance, *key); signed_ok != exit_ok)
            return signed_ok;
    }
    const auto compared = local.compare_shipped(*central);
    if (!compared) {
        std::cerr << "pgsieve: " << compared.error() << "\n";
        return exit_usage;
    }
    if (const auto& m = compared->mismatch) {
        const std::string_view row_kind = m->table == "statements"        ? "statement"
                                          : m->table == "sessions"        ? "session"
                                          : m->table == "events"          ? "event"
                                                                          : "policy version";
        if (m->missing)
            std::cout << fmt::format("{}: TAMPERED: {} {} was shipped to the central store (instance {}) and is "
                                     "missing from the file\n",
                                     file, row_kind, m->key, instance);
        else
            std::cout << fmt::format("{}: TAMPERED: {} {} differs from the copy shipped to the central store "
                                     "(instance {}): {}\n",
                                     file, row_kind, m->key, instance, m->what);
        return exit_refused;
    }
    const auto count = [&](const char* table) {
        const auto it = compared->checked.find(table);
        return it == compared->checked.end() ? std::uint64_t{0} : it->second;
    };
    std::cout << fmt::format("{}: matches the central store: all {} statements, {} sessions, {} events and {} policy "
                             "versions shipped (instance {}) are in the file unchanged\n",
                             file, count("statements"), count("sessions"), count("events"), count("policy_versions"),
                             instance);
    return exit_ok;
}

namespace {

// Each log's own chain (and signed checkpoints, with the key); exit 1 if any
// was tampered with.
int verify_each(const std::vector<audit::review_source>& logs, const std::optional<std::string>& key) {
    int worst = exit_ok;
    for (const auto& log : logs) {
        auto review = audit::review::open(log.path);
        if (!review) {
            std::cerr << "pgsieve: " << review.error() << "\n";
            return exit_usage;
        }
        int result = verify(*review, log.label);
        if (result == exit_ok && key) result = verify_signed(*review, log.label, *key);
        if (result == exit_usage) return result;
        worst = std::max(worst, result);
    }
    return worst;
}

}  // namespace

int run_audit(const audit_options& o) {
    review_sources logs;
    for (const auto& db : o.db) {
        if (db.starts_with("postgresql://")) {
            if (auto r = logs.add_store(db, o.instance); !r) {
                std::cerr << "pgsieve: " << r.error() << "\n";
                return exit_usage;
            }
        } else {
            logs.add_file(db);
        }
    }
    if (o.db.empty()) {
        const auto file = audit_file(o);
        if (!file) {
            std::cerr << "pgsieve: " << file.error() << "\n";
            return exit_usage;
        }
        logs.add_file(*file);
    }
    auto review = audit::review::open(logs.all);
    if (!review) {
        std::cerr << "pgsieve: " << review.error() << "\n";
        return exit_usage;
    }
    audit::statement_filter filter;
    filter.refused_only = o.blocked;
    filter.client = o.client;
    filter.table = o.table;
    filter.limit = o.limit;
    if (!o.since.empty()) {
        auto since = audit::parse_since(o.since, std::chrono::system_clock::now());
        if (!since) {
            std::cerr << "pgsieve: " << since.error() << "\n";
            return exit_usage;
        }
        filter.since = *since;
    }
    if (o.command == "list") return list(*review, filter, o.json);
    if (o.command == "show") return show(*review, o.id, o.json);
    if (o.command == "stats") return stats(*review, filter.since, o.json);
    if (o.command == "export") return export_rows(*review, filter, o.format);
    if (o.command == "verify") {
        std::optional<std::string> key;
        if (!o.key_env.empty()) {
            const char* value = std::getenv(o.key_env.c_str());
            if (!value || !*value) {
                std::cerr << "pgsieve: environment variable " << o.key_env << " is not set or empty\n";
                return exit_usage;
            }
            key = value;
        }
        if (o.against.empty()) return verify_each(logs.all, key);
        if (logs.all.size() != 1 || o.db.size() != 1 || o.db.front().starts_with("postgresql://")) {
            std::cerr << "pgsieve: --against holds one replica's file against the store: name that file with one --db\n";
            return exit_usage;
        }
        if (o.instance.empty()) {
            std::cerr << "pgsieve: --against needs --instance: the replica whose rows the file should hold\n";
            return exit_usage;
        }
        const int own = verify_each(logs.all, key);
        if (own != exit_ok) return own;
        return verify_against(*review, logs.all.front().path, o.against, o.instance, key);
    }
    return exit_usage;
}

}  // namespace pgsieve::cli
