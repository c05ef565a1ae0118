// libFuzzer target: parser + policy on arbitrary SQL text, decided against
// the catalog recorded from the fixture database (tests/policy_corpus) under
// the corpus policies. Nothing may crash, hang or read out of bounds; a
// decision is always produced, and every refusal says why.

#include <pgsieve/config/load.hpp>
#include <pgsieve/policy/decide.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace pgsieve;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) std::abort();
    std::ostringstream text;
    text << in.rdbuf();
    return std::move(text).str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto cfg = [] {
        config::environment env{[](const std::string&) -> std::optional<std::string> { return "secret"; },
                                [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
        const std::string path = std::string(PGSIEVE_CORPUS) + "/pgsieve.yaml";
        auto loaded = config::load_text(read_text(path), path, env);
        if (!loaded) std::abort();
        return *loaded;
    }();
    static const auto cat = [] {
        const auto rows = policy::read_catalog_rows(read_text(std::string(PGSIEVE_CORPUS) + "/catalog.txt"));
        if (!rows) std::abort();
        return policy::catalog_from_rows(*rows);
    }();
    const std::string_view sql(reinterpret_cast<const char*>(data), size);
    if (sql.find('\0') != std::string_view::npos) return 0;  // a Query's text cannot hold NUL
    // A policy with catalog introspection and writes, one without, and one that masks columns.
    for (const char* client : {"cs_bot", "ops_bot", "mask_bot"}) {
        const auto* c = cfg->find_client(client);
        const policy::context ctx{*cfg, *cfg->find_policy(c->policy), *cat, cfg->upstream.search_path,
                                  cfg->upstream.user, nullptr};
        const auto d = policy::decide(sql, ctx);
        if (!d.allowed && d.message.empty()) std::abort();  // every refusal says why
    }
    return 0;
}
