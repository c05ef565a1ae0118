#pragma once
// Reading and validating a configuration file into one immutable snapshot.
// Every problem is reported as FILE:LINE: key: what is wrong; all of them at
// once, so a user fixes the file in one pass.

#include <pgsieve/common/expected.hpp>
#include <pgsieve/config/config.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgsieve::config {

struct load_error {
    std::string file;
    int line = 0;     // 1-based; 0 when the problem is the file as a whole
    std::string key;  // dotted path, e.g. policies.support-ops.tables."public.tickets".allow
    std::string message;

    std::string str() const;  // FILE:LINE: key: message
};

// Where secrets and referenced files come from; tests substitute their own.
struct environment {
    std::function<std::optional<std::string>(const std::string& name)> getenv;
    std::function<std::optional<std::string>(const std::string& path)> read_file;

    static environment system();
};

using load_result = expected<std::shared_ptr<const config>, std::vector<load_error>>;

[[nodiscard]] load_result load_file(const std::string& path, const environment& env = environment::system());
// `file` names the text in errors and anchors relative paths in it.
[[nodiscard]] load_result load_text(const std::string& text, const std::string& file,
                                    const environment& env = environment::system());

}  // namespace pgsieve::config
