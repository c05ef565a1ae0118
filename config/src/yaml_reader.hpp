#pragma once
// Typed, located access to a yaml-cpp tree. Each accessor either returns a
// value or records a load_error naming the file, line and dotted key, so the
// loader reads like the contract and collects every problem in one pass.

#include <pgsieve/config/config.hpp>
#include <pgsieve/config/load.hpp>

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgsieve::config::detail {

// A YAML value with the dotted key and the line it was read from.
struct located {
    YAML::Node node;
    std::string key;
    int line = 0;
    bool is_null() const { return !node || node.IsNull(); }
};

// Appends a key segment, quoting it when it contains a dot: tables."public.t".
std::string join_key(std::string_view parent, std::string_view segment);

// A name that reaches SQL text, comments and terminals: valid UTF-8, no
// C0/C1 control character or DEL.
bool is_printable_name(std::string_view text);
// `text` for an error message: controls as \xNN.
std::string printable_name(std::string_view text);

class yaml_reader {
public:
    yaml_reader(std::string file, std::vector<load_error>& errors) : file_(std::move(file)), errors_(errors) {}

    void error(const located& at, std::string message);
    void error(int line, std::string key, std::string message);

    // Children of a mapping in file order; reports duplicate keys, and (when
    // `allowed` is given) keys outside it. A null node is an empty mapping
    // only when `null_is_empty`.
    std::vector<std::pair<std::string, located>> mapping(const located& at, bool null_is_empty = false);
    std::vector<std::pair<std::string, located>> mapping(const located& at, std::initializer_list<std::string_view> allowed,
                                                         bool null_is_empty = false);
    std::vector<std::pair<std::string, located>> mapping(const located& at, std::span<const std::string_view> allowed,
                                                         bool null_is_empty = false);
    std::vector<located> sequence(const located& at);

    std::optional<std::string> string(const located& at);
    std::optional<std::int64_t> integer(const located& at, std::int64_t min, std::int64_t max);
    std::optional<bool> boolean(const located& at);
    // A duration with a unit: 50ms, 10s, 30m, 1h. `allow_zero` lets "0" (any unit) mean "none".
    std::optional<duration> duration_value(const located& at, bool allow_zero);
    std::optional<std::vector<std::string>> string_list(const located& at, bool allow_empty);
    // A size in bytes: a whole number, or one with a unit (kB, MB, GB: 1024-based, as PostgreSQL's).
    std::optional<std::uint64_t> byte_size(const located& at);

    // One of `names` (as spelled in the contract), returned as its index.
    std::optional<std::size_t> one_of(const located& at, std::initializer_list<std::string_view> names);

    // A catalog name: non-empty, at most 63 bytes (PostgreSQL's NAMEDATALEN - 1).
    std::optional<std::string> identifier(const located& at, std::string_view text);
    // schema.name with exactly one dot.
    std::optional<qualified_name> qualified(const located& at, std::string_view text);

    const std::string& file() const { return file_; }

private:
    std::string file_;
    std::vector<load_error>& errors_;
};

// Looks up a key among mapping() results.
const located* find(const std::vector<std::pair<std::string, located>>& fields, std::string_view key);

}  // namespace pgsieve::config::detail
