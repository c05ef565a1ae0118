#pragma once
// What the audit log stores (DESIGN.md §4), as plain values. Sessions build
// them on their own threads; the sink adds what costs time (fingerprint,
// normalized text, tags, hash chain) on its thread.

#include <pgsieve/common/time.hpp>

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace pgsieve::audit {

struct session_started {
    std::uint64_t id = 0;
    sys_time started_at{};
    std::string client;
    std::string policy;
    std::string client_addr;
    std::string application_name;
    std::string database;
    bool tls = false;
    std::string attributes;  // the client's attributes bound upstream, as a JSON object ("" when none)
};

struct session_ended {
    std::uint64_t id = 0;
    sys_time ended_at{};
    std::string end_reason;
};

enum class verdict { allowed, blocked, would_block };
std::string_view to_string(verdict v);

struct statement {
    std::uint64_t session_id = 0;
    sys_time ts{};  // when it completed or was refused
    std::string client;
    std::string policy;
    std::string policy_version;
    std::string protocol;        // simple | extended | function_call
    std::string statement_name;  // extended protocol: the prepared statement's name
    std::string sql;             // as sent; the sink normalizes it for store_sql: normalized
    verdict outcome = verdict::allowed;
    std::string reason;  // the refusal's message (blocked, would_block)
    std::string rule;    // which rule decided: statement, relation, column, ...
    std::vector<std::string> tables;   // schema.table
    std::vector<std::string> columns;  // schema.table.column
    std::vector<std::string> row_scoped;  // of `tables`, those PostgreSQL's row-level security scopes for the policy
    // Output columns the client saw masked (or, in monitor mode, would
    // have: applied false), in result order.
    struct masked_column {
        std::size_t position = 0;  // 0-based
        std::string column;        // schema.table.column
        std::string method;        // redact, null, hash, last4, first4, email_domain
        bool applied = true;
    };
    std::vector<masked_column> masked;
    std::string application_name;      // joined into tags
    std::string command_tag;
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    std::uint64_t duration_us = 0;
    std::string sqlstate;  // empty when it succeeded
    std::string error;
};

struct event {
    sys_time ts{};
    std::uint64_t session_id = 0;  // 0: not tied to a session
    std::string kind;    // auth_failed, startup_refused, policy_reload, limit_hit, audit_dropped, ...
    std::string detail;  // a JSON object
};

struct policy_version {
    std::string version;  // config::config::version
    sys_time loaded_at{};
    std::string source;   // the configuration text
};

// statement::masked as JSON: [{"position":1,"column":"s.t.c","method":"hash"}, …]
// ("applied":false where monitor mode relayed it as sent).
[[nodiscard]] std::string masked_columns_json(const std::vector<statement::masked_column>& masked);

// An event's detail from key/value text pairs: {"key":"value",...}.
[[nodiscard]] std::string detail_json(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);
[[nodiscard]] std::string detail_json(const std::vector<std::pair<std::string_view, std::string_view>>& fields);

using record = std::variant<session_started, session_ended, statement, event, policy_version>;

// Text from outside — SQL, user and application names, addresses, errors,
// tags, event details — made valid for every place the record goes:
// UTF-8 (each invalid sequence becomes U+FFFD) without NUL (PostgreSQL's
// text takes neither; OTLP's proto3 strings must be UTF-8). The writer
// applies it once, before the record reaches the file, from which every
// export and review reads. Returns whether anything was replaced.
bool make_valid_text(record& r);

}  // namespace pgsieve::audit
