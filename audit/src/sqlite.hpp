#pragma once
// A thin RAII layer over SQLite's C API: a connection and prepared
// statements, errors as text naming what failed. Private to audit/.

#include <pgsieve/common/expected.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgsieve::audit::sqlite {

// One column value as SQLite stores it.
using value = std::variant<std::monostate, std::int64_t, std::string>;

class statement;

class database {
public:
    // read_only: for the review commands, which never create or change a file.
    [[nodiscard]] static expected<database, std::string> open(const std::string& path, bool read_only);
    database(database&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
    database& operator=(database&& o) noexcept;
    ~database();

    [[nodiscard]] expected<void, std::string> exec(const char* sql);
    // Exactly one statement, run to completion: text after it is refused
    // (exec runs every statement in its text).
    [[nodiscard]] expected<void, std::string> run_one(std::string_view sql);
    [[nodiscard]] expected<statement, std::string> prepare(std::string_view sql);
    std::string error() const { return sqlite3_errmsg(db_); }
    sqlite3* handle() const { return db_; }

private:
    explicit database(sqlite3* db) : db_(db) {}
    sqlite3* db_ = nullptr;
};

class statement {
public:
    explicit statement(sqlite3_stmt* s) : stmt_(s) {}
    statement(statement&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)) {}
    statement& operator=(statement&& o) noexcept;
    ~statement();

    // 1-based, as SQLite counts parameters.
    // `copy` false: SQLite reads the text in place, so it must stay alive
    // and unchanged until the statement is reset.
    void bind_value(int i, const value& v, bool copy = true);
    void bind(int i, std::string_view text, bool copy = true);
    void bind(int i, std::int64_t n);
    void bind_null(int i);
    // SQLITE_ROW, SQLITE_DONE, or an error code.
    int step();
    void reset();

    int columns() const { return sqlite3_column_count(stmt_); }
    value column(int i) const;  // 0-based
    std::string text(int i) const;
    std::int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
    bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
    std::string name(int i) const { return sqlite3_column_name(stmt_, i); }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace pgsieve::audit::sqlite
