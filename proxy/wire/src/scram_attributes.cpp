#include "scram_attributes.hpp"

namespace pgsieve::wire::scram {

std::optional<std::string_view> attribute_reader::expect(char name) {
    if (done_ || rest_.size() < 2 || rest_[0] != name || rest_[1] != '=') return std::nullopt;
    const auto comma = rest_.find(',');
    std::string_view value = rest_.substr(2, comma == std::string_view::npos ? std::string_view::npos : comma - 2);
    if (comma == std::string_view::npos) {
        rest_ = {};
        done_ = true;
    } else {
        rest_.remove_prefix(comma + 1);
    }
    return value;
}

char attribute_reader::peek() const {
    return done_ || rest_.empty() ? '\0' : rest_[0];
}

bool is_printable_nonce(std::string_view s) {
    if (s.empty()) return false;
    for (const char c : s) {
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    }
    return true;
}

}  // namespace pgsieve::wire::scram
