#include "sqlite.hpp"

#include <fmt/format.h>

namespace pgsieve::audit::sqlite {

expected<database, std::string> database::open(const std::string& path, bool read_only) {
    sqlite3* db = nullptr;
    const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return unexpected(fmt::format("cannot open {}: {}", path, why));
    }
    // A reader or a checkpoint holding the lock briefly must not fail a batch.
    sqlite3_busy_timeout(db, 1000);
    return database(db);
}

database& database::operator=(database&& o) noexcept {
    if (this != &o) {
        sqlite3_close(db_);
        db_ = std::exchange(o.db_, nullptr);
    }
    return *this;
}

database::~database() { sqlite3_close(db_); }

expected<void, std::string> database::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message ? message : error();
        sqlite3_free(message);
        return unexpected(std::move(why));
    }
    return {};
}

expected<void, std::string> database::run_one(std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, &tail) != SQLITE_OK)
        return unexpected(error());
    statement s(raw);
    const std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos)
        return unexpected(std::string("more than one statement"));
    const int rc = s.step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return unexpected(error());
    return {};
}

expected<statement, std::string> database::prepare(std::string_view sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK)
        return unexpected(error());
    return statement(s);
}

statement& statement::operator=(statement&& o) noexcept {
    if (this != &o) {
        sqlite3_finalize(stmt_);
        stmt_ = std::exchange(o.stmt_, nullptr);
    }
    return *this;
}

statement::~statement() { sqlite3_finalize(stmt_); }

void statement::bind_value(int i, const value& v, bool copy) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) bind(i, *n);
    else if (const auto* s = std::get_if<std::string>(&v)) bind(i, std::string_view(*s), copy);
    else bind_null(i);
}

void statement::bind(int i, std::string_view text, bool copy) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}

void statement::bind(int i, std::int64_t n) { sqlite3_bind_int64(stmt_, i, n); }
void statement::bind_null(int i) { sqlite3_bind_null(stmt_, i); }
int statement::step() { return sqlite3_step(stmt_); }

void statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

value statement::column(int i) const {
    switch (sqlite3_column_type(stmt_, i)) {
        case SQLITE_NULL: return std::monostate{};
        case SQLITE_INTEGER: return integer(i);
        default: return text(i);
    }
}

std::string statement::text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i))) : std::string();
}

}  // namespace pgsieve::audit::sqlite
