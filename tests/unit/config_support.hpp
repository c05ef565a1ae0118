#pragma once
// Helpers for configuration tests: an in-memory environment and loaders that
// return errors as "LINE: key: message" strings for easy assertions.

#include <pgsieve/config/load.hpp>

#include <map>
#include <string>
#include <vector>

namespace pgsieve::test {

struct fake_environment {
    std::map<std::string, std::string> variables;
    std::map<std::string, std::string> files;

    config::environment get() const {
        return config::environment{
            [this](const std::string& name) -> std::optional<std::string> {
                const auto it = variables.find(name);
                return it == variables.end() ? std::nullopt : std::optional(it->second);
            },
            [this](const std::string& path) -> std::optional<std::string> {
                const auto it = files.find(path);
                return it == files.end() ? std::nullopt : std::optional(it->second);
            },
        };
    }
};

// "LINE: key: message" for each error, in the order reported.
inline std::vector<std::string> load_errors(const std::string& yaml, const fake_environment& env) {
    const auto result = config::load_text(yaml, "/etc/pgsieve/test.yaml", env.get());
    std::vector<std::string> out;
    if (result) return out;
    for (const auto& e : result.error()) out.push_back(std::to_string(e.line) + ": " + e.key + ": " + e.message);
    return out;
}

}  // namespace pgsieve::test
