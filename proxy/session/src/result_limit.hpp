#pragma once
// max_rows and max_result_bytes: rows of one result beyond the policy's
// limits are dropped as they arrive. Under on_exceed: error the result's
// completion becomes ERROR 54000; under on_exceed: truncate it becomes a
// NOTICE saying so and a CommandComplete counting the rows sent (DESIGN.md
// §2). The limits come with each request's decision (the policy that
// decided it).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgsieve::session {

class result_limit {
public:
    enum class verdict {
        pass,           // relay the message
        drop,           // a row past a limit: do not relay it
        end_over,       // the completion of a cut result: replace it with error_response()
        end_truncated,  // the completion of a truncated result: replace it with truncated_completion()
        end_budget,     // the completion of a result cut by the client's budget: 53400 (budget_cut())
    };
    struct limits {
        std::uint64_t max_rows = 0;   // 0: none
        std::uint64_t max_bytes = 0;  // of the DataRow/CopyData messages sent; 0: none
        bool truncate = false;
        // What is left of the client's rows and bytes budgets (UINT64_MAX: none).
        std::uint64_t budget_rows = UINT64_MAX;
        std::uint64_t budget_bytes = UINT64_MAX;
    };

    // Before each message of a request's reply: its policy's limits.
    void limit(const limits& l) { limits_ = l; }
    // One upstream message of the current result, `size` bytes on the wire.
    verdict on_message(char type, std::size_t size);
    // The ErrorResponse that ends a result that was cut (the last one cut).
    std::string error_response() const;
    // The NoticeResponse and CommandComplete that end a truncated result:
    // `upstream_tag` is PostgreSQL's (empty for a PortalSuspended); a row
    // count it carries becomes the rows sent, except for a write's RETURNING
    // (its count is of the rows written).
    std::string truncated_completion(std::string_view upstream_tag, std::string_view policy) const;
    // Rows sent of the last result cut or truncated.
    std::uint64_t rows_sent() const { return last_sent_; }
    std::string_view limit_name() const { return last_by_bytes_ ? "max_result_bytes" : "max_rows"; }
    // Which budget ended the last result cut by one: rows (else bytes).
    bool budget_cut_by_rows() const { return last_budget_rows_; }
    std::uint64_t limit_value() const { return last_by_bytes_ ? limits_.max_bytes : limits_.max_rows; }

private:
    limits limits_;
    std::uint64_t rows_ = 0;   // rows sent of the current result
    std::uint64_t bytes_ = 0;  // their bytes
    bool cut_ = false;
    bool by_bytes_ = false;
    bool by_budget_ = false;
    bool budget_rows_ = false;
    bool last_budget_rows_ = false;
    std::uint64_t last_sent_ = 0;
    bool last_by_bytes_ = false;
};

}  // namespace pgsieve::session
