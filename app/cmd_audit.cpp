// pgsieve audit list|show|stats|export|verify: incident review of the audit
// log (DESIGN.md §5). Reads the file only; works while pgsieve writes it.

#include "audit_sources.hpp"
#include "commands.hpp"

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
    if (auto r = logs.add(o.db, o.instance, o.config_file); !r) {
        std::cerr << "pgsieve: " << r.error() << "\n";
        return exit_usage;
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
    if (o.command == "policies") return run_audit_policies(*review, o);
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
