#pragma once
// max_rows: rows of one result beyond the policy's limit are dropped as they
// arrive, and the result's completion becomes ERROR 54000 (DESIGN.md §2).
// The limit comes with each request's decision (the policy that decided it).

#include <cstdint>
#include <string>

namespace pgsieve::session {

class result_limit {
public:
    enum class verdict {
        pass,      // relay the message
        drop,      // a row past the limit: do not relay it
        end_over,  // the result's completion: replace it with the 54000 error (error_response())
    };

    // Before the first message of a request's reply: its policy's limit (0: none).
    void limit(std::uint64_t max_rows) { max_rows_ = max_rows; }
    // One upstream message of the current result.
    verdict on_message(char type);
    // The ErrorResponse that ends a result that was cut.
    std::string error_response() const;
    std::uint64_t max_rows() const { return max_rows_; }

private:
    std::uint64_t max_rows_ = 0;
    std::uint64_t rows_ = 0;
    bool cut_ = false;
};

}  // namespace pgsieve::session
