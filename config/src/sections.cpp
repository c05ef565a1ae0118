#include <pgsieve/config/sections.hpp>

#include <yaml-cpp/yaml.h>

namespace pgsieve::config {

namespace {

std::optional<YAML::Node> parse(std::string_view source) {
    try {
        return YAML::Load(std::string(source));
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

}  // namespace

std::map<std::string, policy_section> policy_sections(std::string_view source) {
    std::map<std::string, policy_section> out;
    const auto root = parse(source);
    if (!root || !root->IsMap()) return out;
    try {
        const auto policies = (*root)["policies"];
        if (!policies || !policies.IsMap()) return out;
        for (const auto& entry : policies) {
            if (!entry.first.IsScalar()) continue;
            policy_section s;
            YAML::Emitter emitter;
            emitter << entry.second;
            s.text = emitter.c_str();
            if (entry.second.IsMap() && entry.second["owner"] && entry.second["owner"].IsScalar())
                s.owner = entry.second["owner"].Scalar();
            out.emplace(entry.first.Scalar(), std::move(s));
        }
    } catch (const YAML::Exception&) {
        out.clear();
    }
    return out;
}

std::optional<store_sql> recorded_sql_mode(std::string_view source) {
    const auto root = parse(source);
    if (!root || !root->IsMap()) return std::nullopt;
    try {
        const auto audit = (*root)["audit"];
        if (!audit || !audit.IsMap()) return store_sql::full;
        const auto sql = audit["store_sql"];
        if (sql && sql.IsScalar() && sql.Scalar() == "normalized") return store_sql::normalized;
        return store_sql::full;
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
}

}  // namespace pgsieve::config
