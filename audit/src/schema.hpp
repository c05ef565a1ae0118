#pragma once
// The audit database's schema (DESIGN.md §4: the column names are a
// contract users' own queries rely on) and the hash chain over statements.

#include "sqlite.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::audit {

// PRAGMA user_version of a database this build writes. A later release that
// changes the schema migrates from each earlier version in ensure_schema().
constexpr int schema_version = 6;

// Creates the tables in a new file, checks the version of an existing one,
// and sets WAL mode.
[[nodiscard]] expected<void, std::string> ensure_schema(sqlite::database& db);
// Refuses a file written by a newer pgsieve, or one that is not an audit log
// (`schema`: the main file, or one attached under that name).
[[nodiscard]] expected<void, std::string> check_schema(sqlite::database& db, std::string_view schema = "main");

// Whether `column` is a column of audit table `table` in some schema this
// build knows (migrations only add columns: the latest schema's). Files
// merged for review are read by these names only.
[[nodiscard]] bool known_column(std::string_view table, std::string_view column);

// The statements columns covered by the hash, in order: all but prev_hash and hash.
inline constexpr std::string_view chained_columns =
    "id, session_id, ts, client, policy, policy_version, protocol, statement_name, sql, fingerprint, verdict, "
    "reason, rule, tables, columns, tags, command_tag, rows, bytes, duration_us, sqlstate, error, row_scoped, masked";
inline constexpr int chained_column_count = 24;
// Of them, the last ones added after schema 1 (row_scoped, masked): hashed only when not NULL.
inline constexpr std::size_t chained_columns_added = 2;

// The first row's prev_hash.
inline const std::string genesis_hash(64, '0');

// hash = SHA-256(prev_hash ‖ canonical row), lower-case hex. The canonical
// row encodes each value with its type and length, so no two rows share one.
[[nodiscard]] std::string chain_hash(std::string_view prev_hash, const std::vector<sqlite::value>& row);

}  // namespace pgsieve::audit
