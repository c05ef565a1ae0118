#include "result_limit.hpp"

#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

namespace pgsieve::session {

result_limit::verdict result_limit::on_message(char type) {
    namespace be = wire::backend;
    if (max_rows_ == 0) return verdict::pass;
    switch (type) {
        case be::data_row:
        case be::copy_data:
            if (++rows_ <= max_rows_) return verdict::pass;
            cut_ = true;
            return verdict::drop;
        case be::command_complete:
        case be::portal_suspended: {
            const bool cut = cut_;
            rows_ = 0;
            cut_ = false;
            return cut ? verdict::end_over : verdict::pass;
        }
        case be::row_description:
        case be::error_response:
        case be::empty_query_response:
            rows_ = 0;
            cut_ = false;
            return verdict::pass;
        default:
            return verdict::pass;
    }
}

std::string result_limit::error_response() const {
    std::string out;
    wire::error_fields e;
    e.sqlstate = std::string(wire::sqlstate::program_limit_exceeded);
    e.message = fmt::format("pgsieve: result exceeds max_rows={}; add a LIMIT", max_rows_);
    e.detail = fmt::format("rule: max_rows (rows after the first {} were not returned)", max_rows_);
    e.hint = fmt::format("add LIMIT {} or narrow the query", max_rows_);
    wire::write_error_response(out, e);
    return out;
}

}  // namespace pgsieve::session
