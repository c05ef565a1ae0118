#pragma once
// How review results are printed: aligned tables for people, JSON, JSON
// lines and CSV (RFC 4180) for tools.

#include <pgsieve/audit/review.hpp>

#include <string>
#include <vector>

namespace pgsieve::audit {

// Aligned columns under a title; long or multi-line text is cut to
// `max_width` characters with "…" (the JSON forms keep everything).
[[nodiscard]] std::string format_table(const result_set& r, std::size_t max_width = 60);
// Each row as "column: value" lines, for one record in full.
[[nodiscard]] std::string format_vertical(const result_set& r);

// One row as a JSON object; columns holding JSON text (tables, columns,
// tags, detail) are embedded as JSON, not as strings.
[[nodiscard]] std::string json_object(const std::vector<std::string>& columns, const std::vector<cell>& row);
// {"title": [objects...], ...}
[[nodiscard]] std::string json_sections(const std::vector<result_set>& sections);
[[nodiscard]] std::string json_rows(const result_set& r);  // [objects...]
[[nodiscard]] std::string csv_row(const std::vector<cell>& row);
[[nodiscard]] std::string csv_header(const std::vector<std::string>& columns);

}  // namespace pgsieve::audit
