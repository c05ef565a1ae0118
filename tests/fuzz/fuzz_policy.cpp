// libFuzzer target: parser + policy on arbitrary SQL text. Nothing may
// crash, hang or read out of bounds; a decision is always produced.

#include <pgsieve/config/load.hpp>
#include <pgsieve/policy/decide.hpp>

#include <cstdlib>

using namespace pgsieve;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto cfg = [] {
        config::environment env{[](const std::string&) -> std::optional<std::string> { return "secret"; },
                                [](const std::string&) -> std::optional<std::string> { return std::nullopt; }};
        auto loaded = config::load_text(R"(upstream: {host: db, database: app, user: u}
audit: {sqlite: /a.db}
classification: {pii: [public.customers.ssn]}
clients: [{name: bot, password_env: P, policy: p}]
policies:
  p:
    statements: [select, explain, insert]
    catalog: introspection
    functions: [public.f]
    tables:
      public.customers: {columns: [id, name]}
      public.orders: {allow: [select, insert]}
)",
                                        "/fuzz.yaml", env);
        if (!loaded) std::abort();
        return *loaded;
    }();
    static const policy::catalog cat(
        {{"public", "customers", 'r', {"id", "name", "ssn"}},
         {"public", "orders", 'r', {"id", "customer_id", "total"}},
         {"pg_catalog", "pg_class", 'r', {"oid", "relname"}}},
        {{"pg_catalog", "count", 'i', 'a'}, {"pg_catalog", "now", 's', 'f'}, {"pg_catalog", "pg_sleep", 'v', 'f'},
         {"public", "f", 's', 'f'}},
        {{"public", "===", "public", "f"}});
    const policy::context ctx{*cfg, *cfg->find_policy("p"), cat, {"public"}, {}, {}};
    const std::string_view sql(reinterpret_cast<const char*>(data), size);
    if (sql.find('\0') != std::string_view::npos) return 0;  // a Query's text cannot hold NUL
    const auto d = policy::decide(sql, ctx);
    if (!d.allowed && d.message.empty()) std::abort();  // every refusal says why
    return 0;
}
