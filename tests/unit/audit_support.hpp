#pragma once
// What the audit unit tests share: a temporary directory, a statement record,
// direct SQL on the file (as a tamperer would), a sink on a file.

#include <pgsieve/audit/sink.hpp>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace pgsieve::test {

// A fresh directory for one test's database, removed afterwards.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() / ("pgsieve-audit-" + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string file(const char* name) const { return (path / name).string(); }
};

inline audit::statement statement_record(std::string sql, audit::verdict v = audit::verdict::allowed) {
    audit::statement s;
    s.session_id = 1;
    s.ts = std::chrono::system_clock::now();
    s.client = "cs_bot";
    s.policy = "reader";
    s.protocol = "simple";
    s.sql = std::move(sql);
    s.outcome = v;
    s.tables = {"public.customers"};
    s.columns = {"public.customers.id"};
    return s;
}

// Runs SQL against the file directly (as a tamperer, or to read back).
inline std::vector<std::string> sqlite_column(const std::string& file, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const auto* text = sqlite3_column_text(s, 0);
        out.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

inline std::unique_ptr<audit::sink> open_sink(const std::string& file, bool normalize = false) {
    audit::sink_options o;
    o.path = file;
    o.normalize_sql = normalize;
    o.flush_interval = std::chrono::milliseconds(5);
    auto s = audit::sink::open(o);
    REQUIRE(s);
    return std::move(*s);
}

}  // namespace pgsieve::test
