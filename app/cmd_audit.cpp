// pgsieve audit list|show|stats|export|verify: incident review of the audit
// log (DESIGN.md §5). Reads the file only; works while pgsieve writes it.

#include "commands.hpp"

#include <pgsieve/audit/review.hpp>
#include <pgsieve/audit/review_format.hpp>
#include <pgsieve/config/load.hpp>

#include <fmt/format.h>

#include <iostream>

namespace pgsieve::cli {

namespace {

// The audit file: --db, or audit.sqlite of the configuration. Secrets the
// configuration names need not be present to review its log.
expected<std::string, std::string> audit_file(const audit_options& o) {
    if (!o.db.empty()) return o.db;
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

int run_audit(const audit_options& o) {
    const auto file = audit_file(o);
    if (!file) {
        std::cerr << "pgsieve: " << file.error() << "\n";
        return exit_usage;
    }
    auto review = audit::review::open(*file);
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
    if (o.command == "verify") return verify(*review, *file);
    return exit_usage;
}

}  // namespace pgsieve::cli
