#include <pgsieve/audit/records.hpp>
#include <pgsieve/common/log.hpp>

namespace pgsieve::audit {

std::string detail_json(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    std::string out = "{";
    for (const auto& [key, value] : fields) {
        if (out.size() > 1) out += ',';
        log::append_json_string(out, key);
        out += ':';
        log::append_json_string(out, value);
    }
    return out + "}";
}

}  // namespace pgsieve::audit
