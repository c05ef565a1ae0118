#pragma once
// Shared state of one load: the reader that collects errors, the environment
// secrets come from, and the config being filled in. Sections are read by
// free functions in load.cpp and load_policies.cpp.

#include "yaml_reader.hpp"

#include <pgsieve/config/config.hpp>
#include <pgsieve/config/load.hpp>

#include <filesystem>

namespace pgsieve::config::detail {

struct loader {
    yaml_reader& reader;
    const environment& env;
    std::filesystem::path base_dir;  // relative paths in the file are relative to the file
    config& cfg;

    std::string resolve_path(const std::string& path) const;
    // A required key: reports "is required" at the parent's line when absent.
    const located* require(const std::vector<std::pair<std::string, located>>& fields, const located& parent,
                           std::string_view key);
};

// A secret given as exactly one of `<name>` inline (only when `inline_ok`),
// `<name>_env` or `<name>_file`: its value and where it was named.
struct secret {
    std::string value;
    located at;
    bool from_inline = false;
};
std::optional<secret> read_secret(loader& l, const std::vector<std::pair<std::string, located>>& fields,
                                  const located& parent, const std::string& name, bool inline_ok, bool required);

void read_policies(loader& l, const located& at);
// budgets: {statements: 1000/1h, rows: 100000/1d, bytes: 500MB/1d, statement_time: 10m/1h}
std::vector<budget> read_budgets(loader& l, const located& at);
// http(s)://host[:port][/path] (OTLP export, approval webhooks); port 80/443 and path / by default.
std::optional<http_endpoint> read_http_url(loader& l, const located& f);
void read_classification(loader& l, const located& at);
void read_clients(loader& l, const located& at);
// A policy no client uses is a warning: likely a misspelt name.
void warn_unused_policies(config& cfg, const std::vector<std::pair<std::string, located>>& policy_fields);

}  // namespace pgsieve::config::detail
