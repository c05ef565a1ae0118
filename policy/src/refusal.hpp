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
    // What decided, for the audit's reason, when the client's words must not
    // say it (a hidden object's rule would tell it exists).
    std::string internal_detail;
};

using verdict = std::optional<refusal>;  // nullopt: allowed

std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");
std::string statements_of(const config::policy& p);
std::string tables_of(const config::policy& p);

// An object the policy does not show is indistinguishable from one that does
// not exist: the same words, rule text and hint for both, naming it only as
// the client wrote it. (`rule` stays what decided, for the audit.)
refusal hidden_relation(policy::rule rule, const std::string& written, int location, const context& ctx);
refusal hidden_column(policy::rule rule, const std::string& written, std::string hint, int location,
                      const context& ctx);
refusal hidden_function(policy::rule rule, const std::string& written, int arguments, int location,
                        const context& ctx);

}  // namespace pgsieve::policy::detail
