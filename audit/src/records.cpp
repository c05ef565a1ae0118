#include <pgsieve/audit/records.hpp>
#include <pgsieve/common/log.hpp>

#include <span>

namespace pgsieve::audit {

namespace {
std::string object_of(std::span<const std::pair<std::string_view, std::string_view>> fields) {
    std::string out = "{";
    for (const auto& [key, value] : fields) {
        if (out.size() > 1) out += ',';
        log::append_json_string(out, key);
        out += ':';
        log::append_json_string(out, value);
    }
    return out + "}";
}
}  // namespace

std::string detail_json(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    return object_of({fields.begin(), fields.size()});
}

std::string detail_json(const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
    return object_of(fields);
}

}  // namespace pgsieve::audit
