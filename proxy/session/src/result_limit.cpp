#include "result_limit.hpp"

#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

result_limit::verdict result_limit::on_message(char type, std::size_t size) {
    namespace be = wire::backend;
    if (limits_.max_rows == 0 && limits_.max_bytes == 0 && limits_.budget_rows == UINT64_MAX &&
        limits_.budget_bytes == UINT64_MAX)
        return verdict::pass;
    switch (type) {
        case be::data_row:
        case be::copy_data: {
            if (cut_) return verdict::drop;
            const bool rows_over = limits_.max_rows > 0 && rows_ + 1 > limits_.max_rows;
            const bool bytes_over = limits_.max_bytes > 0 && bytes_ + size > limits_.max_bytes;
            const bool budget_rows_over = rows_ + 1 > limits_.budget_rows;
            const bool budget_bytes_over = bytes_ + size > limits_.budget_bytes;
            if (!rows_over && !bytes_over && !budget_rows_over && !budget_bytes_over) {
                ++rows_;
                bytes_ += size;
                return verdict::pass;
            }
            cut_ = true;
            // A budget ends the statement even where the policy would truncate.
            by_budget_ = budget_rows_over || budget_bytes_over;
            budget_rows_ = budget_rows_over;
            by_bytes_ = !rows_over;
            return verdict::drop;
        }
        case be::command_complete:
        case be::portal_suspended: {
            const bool cut = cut_;
            const bool by_budget = by_budget_;
            last_sent_ = rows_;
            last_by_bytes_ = by_bytes_;
            last_budget_rows_ = budget_rows_;
            rows_ = bytes_ = 0;
            cut_ = by_bytes_ = by_budget_ = budget_rows_ = false;
            if (!cut) return verdict::pass;
            if (by_budget) return verdict::end_budget;
            return limits_.truncate ? verdict::end_truncated : verdict::end_over;
        }
        case be::row_description:
        case be::error_response:
        case be::empty_query_response:
            rows_ = bytes_ = 0;
            cut_ = by_bytes_ = by_budget_ = budget_rows_ = false;
            return verdict::pass;
        default:
            return verdict::pass;
    }
}

std::string result_limit::error_response() const {
    std::string out;
    wire::error_fields e;
    e.sqlstate = std::string(wire::sqlstate::program_limit_exceeded);
    if (last_by_bytes_) {
        e.message = fmt::format("pgsieve: result exceeds max_result_bytes={}; select fewer columns or rows",
                                limits_.max_bytes);
        e.detail = fmt::format("rule: max_result_bytes (rows after the first {} were not returned)", last_sent_);
        e.hint = "select only the columns needed, or add a LIMIT";
    } else {
        e.message = fmt::format("pgsieve: result exceeds max_rows={}; add a LIMIT", limits_.max_rows);
        e.detail = fmt::format("rule: max_rows (rows after the first {} were not returned)", limits_.max_rows);
        e.hint = fmt::format("add LIMIT {} or narrow the query", limits_.max_rows);
    }
    wire::write_error_response(out, e);
    return out;
}

std::string result_limit::truncated_completion(std::string_view upstream_tag, std::string_view policy) const {
    std::string out;
    wire::error_fields n;
    n.severity = "NOTICE";
    n.sqlstate = "01000";  // warning
    n.message = fmt::format("pgsieve: result truncated to its first {} rows by {}={} of policy \"{}\"", last_sent_,
                            limit_name(), limit_value(), policy);
    n.detail = "the rows after them were not returned; the result is incomplete";
    n.hint = last_by_bytes_ ? "select only the columns needed, or narrow the query with WHERE or LIMIT"
                            : "narrow the query with WHERE, or page with ORDER BY … LIMIT … OFFSET";
    wire::write_notice_response(out, n);
    // PostgreSQL's tag ends in the row count; a read's becomes the rows sent.
    std::string tag = upstream_tag.empty() ? "SELECT" : std::string(upstream_tag);
    const auto space = tag.find(' ');
    const auto command = tag.substr(0, space);
    if (command == "SELECT" || command == "FETCH" || command == "COPY" || command == "MOVE")
        tag = fmt::format("{} {}", command, last_sent_);
    wire::write_command_complete(out, tag);
    return out;
}

}  // namespace pgsieve::session
