#pragma once
// Building refusals: one place for the wording of pgsieve's decisions.

#include <pgsieve/config/config.hpp>
#include <pgsieve/policy/decide.hpp>

#include <optional>
#include <string>

namespace pgsieve::policy::detail {

struct refusal {
    policy::rule rule = policy::rule::unsupported;
    std::string message;
    std::string detail;
    std::string hint;
    int location = -1;  // byte offset in the query string
};

using verdict = std::optional<refusal>;  // nullopt: allowed

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");
std::string statements_of(const config::policy& p);
std::string tables_of(const config::policy& p);

}  // namespace pgsieve::policy::detail
