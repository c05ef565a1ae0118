#pragma once
// Masked columns in a result (DESIGN.md §3; the analysis is
// policy/masking.hpp): the columns a decision marks are sent as `text`
// (RowDescription: type 25, length -1, modifier -1) holding the masked value
// in place of each DataRow field (NULL stays NULL). Text's binary format is
// its bytes, so the same bytes serve text and binary result formats.
//
// The RowDescription cross-checks the analysis: each masked position must
// be the column it names (table OID and attnum). On any disagreement the
// session closes rather than send a value the analysis may have misplaced.

#include <pgsieve/common/hmac.hpp>
#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/decide.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::session {

struct mask_settings {
    std::string key;  // hash's HMAC key
    std::size_t hash_length = 16;
    std::string redact_text = "***";
    // The key's HMAC states, made at the first hash: a result's rows share them.
    std::shared_ptr<hmac_sha256> hmac;
};

// A value masked by `method`; nullopt for NULL.
[[nodiscard]] std::optional<std::string> mask_value(config::mask_method method, std::string_view value,
                                                    mask_settings& s);

using masked_outputs = std::vector<policy::decision::masked_output>;

// A Bind's body asking PostgreSQL for the masked positions in text format
// (the mask is computed on a value's text, whatever format the client
// asked for: it gets text, whose binary format is the same bytes), and the
// formats the client asked for, one per column; nullopt when it already
// does or is malformed (PostgreSQL refuses it). `columns`: how many columns
// the statement's result has.
struct masked_bind {
    std::string body;
    std::vector<std::int16_t> client_formats;
};
[[nodiscard]] std::optional<masked_bind> bind_with_masked_as_text(std::string_view body, const masked_outputs& masked,
                                                                  std::size_t columns);
// A RowDescription (`body`) rewritten as a whole message. A masked column
// shows the format the client asked for (`client_formats`, when its Bind
// was changed; clients such as psycopg read one format for every column),
// else the one PostgreSQL reported. `agrees` is set false when the
// description contradicts `masked`.
[[nodiscard]] std::string masked_row_description(std::string_view body, const masked_outputs& masked,
                                                 const std::vector<std::int16_t>& client_formats, bool& agrees);
// A DataRow (`body`) rewritten as a whole message. Empty when the body is
// malformed.
[[nodiscard]] std::string masked_data_row(std::string_view body, const masked_outputs& masked, mask_settings& s);

}  // namespace pgsieve::session
