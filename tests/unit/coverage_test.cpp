// The walker's node table held against libpg_query's own node definitions
// (pg_query.proto, installed with libpg-query-dev): every node type must be
// classified, and every field of a handled node listed with a treatment that
// fits its type. A libpg_query upgrade that adds a node or a field fails here
// until someone decides what it means.

#include <pgsieve/parser/coverage.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace {

struct proto_field {
    std::string type;  // int32, bool, string, Node, an enum or a message name
    bool repeated = false;
};

struct proto {
    std::set<std::string> node_types;  // members of message Node's oneof
    std::map<std::string, std::map<std::string, proto_field>> messages;  // message → JSON key → field
    std::set<std::string> enums;
};

proto read_proto(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    proto p;
    const std::regex message_re(R"re(^message (\w+))re");
    const std::regex enum_re(R"re(^enum (\w+))re");
    const std::regex field_re(R"re(^\s*(repeated\s+)?(\w+)\s+(\w+)\s*=\s*\d+\s*(\[json_name="(\w+)"\])?\s*;)re");
    std::string line, current;
    bool in_enum = false;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_search(line, m, message_re)) {
            current = m[1];
            in_enum = false;
            p.messages[current];
            continue;
        }
        if (std::regex_search(line, m, enum_re)) {
            p.enums.insert(m[1]);
            in_enum = true;
            current.clear();
            continue;
        }
        if (in_enum || current.empty()) continue;
        if (std::regex_search(line, m, field_re)) {
            const std::string json = m[5].matched ? m[5].str() : m[3].str();
            if (current == "Node") p.node_types.insert(json);
            else p.messages[current][json] = {m[2], m[1].matched};
        }
    }
    return p;
}

bool scalar_type(const std::string& t, const proto& p) {
    static const std::set<std::string> scalars = {"int32", "uint32", "int64", "uint64", "bool", "string", "double", "float"};
    return scalars.contains(t) || p.enums.contains(t);
}

}  // namespace

TEST_CASE("coverage: every libpg_query node type and field is classified by the walker", "[parser][coverage]") {
    const auto p = read_proto(PGSIEVE_PG_QUERY_PROTO);
    REQUIRE(p.node_types.size() > 200);
    const auto table = pgsieve::parser::coverage_table();

    std::map<std::string, const pgsieve::parser::node_coverage*> by_type;
    for (const auto& n : table) {
        INFO(n.type);
        CHECK(by_type.emplace(n.type, &n).second);  // classified once
        // RawStmt is the top of every tree; everything else is a Node member.
        CHECK((p.node_types.contains(n.type) || n.type == "RawStmt"));
    }

    std::size_t handled = 0, refused = 0, fields = 0;
    std::vector<std::string> problems;
    for (const auto& type : p.node_types) {
        const auto it = by_type.find(type);
        if (it == by_type.end()) {
            problems.push_back("node " + type + " is not classified");
            continue;
        }
        const auto& n = *it->second;
        if (n.kind == "refused" || n.kind == "refused_statement") {
            ++refused;
            CHECK(n.fields.empty());
            continue;
        }
        ++handled;
        const auto& proto_fields = p.messages.at(type);
        std::set<std::string> listed;
        for (const auto& f : n.fields) {
            listed.insert(f.name);
            const auto pf = proto_fields.find(f.name);
            if (pf == proto_fields.end()) {
                problems.push_back(type + "." + f.name + " is listed but not in pg_query.proto");
                continue;
            }
            ++fields;
            const auto& t = pf->second.type;
            if (f.role == "absent") continue;  // refused if present, whatever its type
            if (scalar_type(t, p)) {
                if (f.role != "scalar") problems.push_back(type + "." + f.name + " is a " + t + ", yet not a scalar here");
            } else if (t == "Node") {
                if (f.role == "scalar" || !f.message.empty())
                    problems.push_back(type + "." + f.name + " holds nodes, yet is treated as " + f.role);
            } else if (f.role != "own" || f.message != t) {
                problems.push_back(type + "." + f.name + " is a " + t + " message: it must be read by its handler as " + t);
            }
        }
        for (const auto& [name, field] : proto_fields) {
            if (!listed.contains(name)) problems.push_back(type + "." + name + " is in pg_query.proto but not classified");
        }
    }
    // RawStmt is a message, not a Node member: check its fields too.
    std::set<std::string> raw;
    for (const auto& f : by_type.at("RawStmt")->fields) raw.insert(f.name);
    for (const auto& [name, field] : p.messages.at("RawStmt")) {
        if (!raw.contains(name)) problems.push_back("RawStmt." + name + " is not classified");
    }

    std::string report;
    for (const auto& problem : problems) report += problem + "\n";
    INFO(report);
    CHECK(problems.empty());
    INFO(p.node_types.size() << " node types: " << handled << " handled (" << fields << " fields), " << refused
                             << " refused");
    CHECK(handled + refused == p.node_types.size());
}
