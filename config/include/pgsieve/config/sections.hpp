#pragma once
// Parts of a configuration text read without validating it: an older
// version from the audit log's policy_versions, whose secrets and files are
// not at hand (and whose verifiers the log redacts), so it cannot be loaded.

#include <pgsieve/config/config.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace pgsieve::config {

struct policy_section {
    std::string text;   // the policy's entry as YAML, comments and layout normalised
    std::string owner;  // "" when none
};

// Each policy's entry by name; empty when the text is not YAML or has no policies.
[[nodiscard]] std::map<std::string, policy_section> policy_sections(std::string_view source);

// audit.store_sql of the text (full when absent); nullopt when the text is not YAML.
[[nodiscard]] std::optional<store_sql> recorded_sql_mode(std::string_view source);

}  // namespace pgsieve::config
