#include <pgsieve/common/sql_text.hpp>

#include <algorithm>
#include <cctype>

namespace pgsieve {

std::string sql_identifier(std::string_view name) {
    std::string out = "\"";
    for (const char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string quote_identifier(std::string_view name) {
    const bool plain = !name.empty() && (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_') &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                           return std::islower(static_cast<unsigned char>(c)) ||
                                  std::isdigit(static_cast<unsigned char>(c)) || c == '_';
                       });
    return plain ? std::string(name) : sql_identifier(name);
}

std::string sql_qualified(std::string_view schema, std::string_view name) {
    return sql_identifier(schema) + "." + sql_identifier(name);
}

std::string quote_literal(std::string_view text) {
    const bool backslash = text.find('\\') != std::string_view::npos;
    std::string out = backslash ? "E'" : "'";
    for (const char c : text) {
        if (c == '\'') out += '\'';
        if (c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

}  // namespace pgsieve
