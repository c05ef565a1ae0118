#include <pgsieve/audit/approvals.hpp>

#include "schema.hpp"
#include "sqlite.hpp"

#include <pgsieve/common/sql_text.hpp>

#include <fmt/format.h>

#include <charconv>

namespace pgsieve::audit {

namespace {

approval_decision decision_of(const sqlite::statement& s) {
    approval_decision d;
    d.id = s.integer(0);
    d.ticket = s.text(1);
    d.approved = s.text(2) == "approved";
    d.reason = s.is_null(3) ? std::string() : s.text(3);
    d.decided_by = s.is_null(4) ? std::string() : s.text(4);
    d.decided_at = s.text(5);
    return d;
}

constexpr std::string_view select_decisions =
    "SELECT id, ticket, decision, reason, decided_by, decided_at FROM approval_decisions ";

}  // namespace

expected<std::optional<approval_record>, std::string> find_approval(const std::string& path,
                                                                   const std::string& ticket) {
    auto db = sqlite::database::open(path, true);
    if (!db) return unexpected(db.error());
    if (auto r = check_schema(*db); !r) return unexpected(fmt::format("{}: {}", path, r.error()));
    auto request = db->prepare(
        "SELECT json_extract(detail, '$.client'), json_extract(detail, '$.policy'), json_extract(detail, '$.sql'), "
        "json_extract(detail, '$.table'), json_extract(detail, '$.command'), json_extract(detail, '$.expires_at'), "
        "json(json_extract(detail, '$.parameters')), json_extract(detail, '$.rows') "
        "FROM events WHERE kind = 'approval_requested' "
        "AND json_extract(detail, '$.ticket') = ?1 ORDER BY id DESC LIMIT 1");
    if (!request) return unexpected(request.error());
    request->bind(1, ticket);
    const int rc = request->step();
    if (rc == SQLITE_DONE) return std::optional<approval_record>();
    if (rc != SQLITE_ROW) return unexpected(db->error());
    approval_record out;
    const auto text = [&](int i) { return request->is_null(i) ? std::string() : request->text(i); };
    out.client = text(0);
    out.policy = text(1);
    out.sql = text(2);
    out.table = text(3);
    out.command = text(4);
    out.expires_at = text(5);
    out.parameters = text(6);
    out.rows = request->integer(7);
    auto decided = db->prepare(std::string(select_decisions) + "WHERE ticket = ?1");
    if (!decided) return unexpected(decided.error());
    decided->bind(1, ticket);
    if (decided->step() == SQLITE_ROW) out.decision = decision_of(*decided);
    auto used = db->prepare("SELECT count(*) FROM events WHERE kind = 'approval_used' "
                            "AND json_extract(detail, '$.ticket') = ?1");
    if (!used) return unexpected(used.error());
    used->bind(1, ticket);
    if (used->step() == SQLITE_ROW) out.used = used->integer(0) > 0;
    return std::optional<approval_record>(std::move(out));
}

expected<void, std::string> record_approval_decision(const std::string& path, const approval_decision& d) {
    auto db = sqlite::database::open(path, false);
    if (!db) return unexpected(db.error());
    if (auto r = check_schema(*db); !r) return unexpected(fmt::format("{}: {}", path, r.error()));
    auto insert = db->prepare("INSERT INTO approval_decisions (ticket, decision, reason, decided_by, decided_at) "
                              "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert) return unexpected(insert.error());
    insert->bind(1, d.ticket);
    insert->bind(2, std::string_view(d.approved ? "approved" : "rejected"));
    if (d.reason.empty()) insert->bind_null(3);
    else insert->bind(3, d.reason);
    if (d.decided_by.empty()) insert->bind_null(4);
    else insert->bind(4, d.decided_by);
    insert->bind(5, d.decided_at);
    if (insert->step() != SQLITE_DONE) {
        const auto why = db->error();
        if (why.find("UNIQUE") != std::string::npos)
            return unexpected(fmt::format("ticket {} was decided already", d.ticket));
        return unexpected(why);
    }
    return {};
}

std::vector<std::string> store_find_approval_sql(std::string_view ticket) {
    const auto t = quote_literal(ticket);
    return {fmt::format("SELECT detail->>'client', detail->>'policy', detail->>'sql', detail->>'table', "
                        "detail->>'command', detail->>'expires_at', detail->>'parameters', detail->>'rows' "
                        "FROM pgsieve_audit.approvals WHERE ticket = {} AND kind = 'requested'",
                        t),
            fmt::format("SELECT seq, ticket, kind, detail->>'reason', decided_by, "
                        "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                        "FROM pgsieve_audit.approvals WHERE ticket = {} AND kind IN ('approved', 'rejected')",
                        t),
            fmt::format("SELECT count(*) FROM pgsieve_audit.approvals WHERE ticket = {} AND kind = 'used'", t)};
}

expected<std::optional<approval_record>, std::string> approval_from_store(
    const std::vector<std::vector<store_row>>& answers) {
    if (answers.size() != 3) return unexpected(std::string("the central store's answer is not the three asked for"));
    if (answers[0].empty()) return std::optional<approval_record>();
    const auto& r = answers[0][0];
    const auto text = [&](const store_row& row, std::size_t i) {
        return i < row.size() && row[i] ? *row[i] : std::string();
    };
    const auto number = [&](const std::string& s) {
        std::int64_t n = 0;
        std::from_chars(s.data(), s.data() + s.size(), n);
        return n;
    };
    approval_record out;
    out.client = text(r, 0);
    out.policy = text(r, 1);
    out.sql = text(r, 2);
    out.table = text(r, 3);
    out.command = text(r, 4);
    out.expires_at = text(r, 5);
    out.parameters = text(r, 6);
    out.rows = number(text(r, 7));
    if (!answers[1].empty()) {
        const auto& d = answers[1][0];
        approval_decision decision;
        decision.id = number(text(d, 0));
        decision.ticket = text(d, 1);
        decision.approved = text(d, 2) == "approved";
        decision.reason = text(d, 3);
        decision.decided_by = text(d, 4);
        decision.decided_at = text(d, 5);
        out.decision = std::move(decision);
    }
    out.used = !answers[2].empty() && number(text(answers[2][0], 0)) > 0;
    return std::optional<approval_record>(std::move(out));
}

std::string store_decide_approval_sql(const approval_decision& d) {
    return fmt::format("SELECT pgsieve_audit.decide_approval({}, {}, {})", quote_literal(d.ticket),
                       d.approved ? "true" : "false", d.reason.empty() ? "NULL" : quote_literal(d.reason));
}

std::string store_request_approval_sql(std::string_view ticket, std::string_view detail_json) {
    return fmt::format("SELECT pgsieve_audit.request_approval({}, {}::jsonb)", quote_literal(ticket),
                       quote_literal(detail_json));
}

std::string store_claim_approval_sql(std::string_view ticket, std::uint64_t rows) {
    return fmt::format("SELECT pgsieve_audit.claim_approval({}, {})", quote_literal(ticket), rows);
}

std::string store_approvals_since_sql(std::int64_t after) {
    return fmt::format("SELECT * FROM pgsieve_audit.approvals_since({})", after);
}

struct approval_decisions::impl {
    sqlite::database db;
};

approval_decisions::approval_decisions(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
approval_decisions::approval_decisions(approval_decisions&&) noexcept = default;
approval_decisions& approval_decisions::operator=(approval_decisions&&) noexcept = default;
approval_decisions::~approval_decisions() = default;

expected<approval_decisions, std::string> approval_decisions::open(const std::string& path) {
    auto db = sqlite::database::open(path, true);
    if (!db) return unexpected(db.error());
    return approval_decisions(std::make_unique<impl>(impl{std::move(*db)}));
}

expected<std::vector<approval_decision>, std::string> approval_decisions::since(std::int64_t after) {
    auto s = impl_->db.prepare(std::string(select_decisions) + "WHERE id > ?1 ORDER BY id");
    if (!s) return unexpected(s.error());
    s->bind(1, after);
    std::vector<approval_decision> out;
    int rc = 0;
    while ((rc = s->step()) == SQLITE_ROW) out.push_back(decision_of(*s));
    if (rc != SQLITE_DONE) return unexpected(impl_->db.error());
    return out;
}

}  // namespace pgsieve::audit
