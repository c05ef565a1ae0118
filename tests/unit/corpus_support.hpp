#pragma once
// The policy corpus (tests/policy_corpus) in-process: its configuration,
// the catalog snapshot recorded from the fixture database
// (`pgsieve dump-catalog`, see tests/policy_corpus/README.md) and its cases.

#include <pgsieve/config/load.hpp>
#include <pgsieve/policy/catalog.hpp>
#include <pgsieve/policy/decide.hpp>

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgsieve::test {

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
}

inline std::string corpus_path(const std::string& name) { return std::string(PGSIEVE_CORPUS) + "/" + name; }

inline std::shared_ptr<const config::config> corpus_config() {
    static const auto cfg = [] {
        config::environment env{[](const std::string&) -> std::optional<std::string> { return "corpus-secret"; },
                                [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
        auto loaded = config::load_text(read_text(corpus_path("pgsieve.yaml")), corpus_path("pgsieve.yaml"), env);
        if (!loaded) throw std::runtime_error("the corpus configuration does not load: " + loaded.error().front().str());
        return *loaded;
    }();
    return cfg;
}

inline std::shared_ptr<const policy::catalog> corpus_catalog() {
    static const auto cat = [] {
        const auto rows = policy::read_catalog_rows(read_text(corpus_path("catalog.txt")));
        if (!rows) throw std::runtime_error("tests/policy_corpus/catalog.txt is not a catalog dump");
        return policy::catalog_from_rows(*rows);
    }();
    return cat;
}

struct corpus_case {
    std::string where;  // file:line
    std::string client;
    std::string verdict;  // allow, refuse, would_block
    std::string rule;
    std::string sql;
};

inline std::vector<corpus_case> corpus_cases(const std::vector<std::string>& files) {
    std::vector<corpus_case> out;
    for (const auto& file : files) {
        std::istringstream in(read_text(corpus_path(file)));
        std::string line, client;
        for (int number = 1; std::getline(in, line); ++number) {
            if (line.empty() || line[0] == '#') continue;
            if (line.starts_with("@client ")) {
                client = line.substr(8);
                continue;
            }
            const auto bar = line.find(" | ");
            if (bar == std::string::npos || client.empty())
                throw std::runtime_error(file + ":" + std::to_string(number) + ": expected 'VERDICT RULE | SQL'");
            std::istringstream head(line.substr(0, bar));
            corpus_case c;
            c.where = file + ":" + std::to_string(number);
            c.client = client;
            head >> c.verdict >> c.rule;
            c.sql = line.substr(bar + 3);
            out.push_back(std::move(c));
        }
    }
    return out;
}

// The decision for a case, as `pgsieve check` makes it (no session: EXECUTE
// and FETCH of names the string itself did not create are refused).
inline policy::decision decide_case(const corpus_case& c) {
    const auto cfg = corpus_config();
    const auto* client = cfg->find_client(c.client);
    if (!client) throw std::runtime_error(c.where + ": no client " + c.client);
    const policy::context ctx{*cfg, *cfg->find_policy(client->policy), *corpus_catalog(), cfg->upstream.search_path,
                              cfg->upstream.user, nullptr};
    return policy::decide(c.sql, ctx);
}

}  // namespace pgsieve::test
