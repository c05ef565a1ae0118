#pragma once
// Which functions a call may run, as PostgreSQL resolves them: every
// overload of the name, in every schema of the path (or the one named),
// that accepts the number of arguments given. Argument types are not
// known here, so every such overload is a candidate and all must be safe.

#include <pgsieve/parser/facts.hpp>
#include <pgsieve/policy/catalog.hpp>

#include <optional>
#include <string>
#include <vector>

namespace pgsieve::policy::detail {

std::vector<const function_info*> candidates(const catalog& cat, const parser::function_ref& fn,
                                             const std::vector<std::string>& path);

// The columns a call produces in FROM, when every candidate agrees.
struct result_shape_of {
    std::optional<std::vector<std::string>> columns;  // named columns; nullopt: one scalar column
    bool record = false;                              // an unnamed record: needs a column definition list
};
std::optional<result_shape_of> result_shape(const catalog& cat, const parser::function_ref& fn,
                                            const std::vector<std::string>& path);

}  // namespace pgsieve::policy::detail
