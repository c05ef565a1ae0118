// pgsieve audit policies [--policy P]: each policy's history as the audit
// recorded it — every configuration version loaded (at start and on each
// reload), and for each policy the versions that changed it: when, its
// owner, and a line diff against the version before.

#include "audit_sources.hpp"
#include "commands.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/config/sections.hpp>

#include <fmt/format.h>

#include <iostream>
#include <map>
#include <sstream>

namespace pgsieve::cli {

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// A line diff (longest common subsequence): "  " kept, "- " removed, "+ " added.
std::string line_diff(const std::string& before, const std::string& after) {
    const auto a = lines_of(before);
    const auto b = lines_of(after);
    std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
    for (std::size_t i = a.size(); i-- > 0;)
        for (std::size_t j = b.size(); j-- > 0;)
            lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    std::string out;
    std::size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
        if (i < a.size() && j < b.size() && a[i] == b[j]) {
            out += "    " + a[i++] + "\n";
            ++j;
        } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
            out += "  - " + a[i++] + "\n";  // removals before additions, as diff prints them
        } else {
            out += "  + " + b[j++] + "\n";
        }
    }
    return out;
}

struct version {
    std::string id;
    std::string loaded_at;  // the first time a log recorded it
    std::vector<std::string> logs;
    std::map<std::string, config::policy_section> policies;
};

struct change {
    std::string policy;
    const version* at = nullptr;
    std::string owner;
    std::string kind;  // added, changed, removed
    std::string diff;
};

}  // namespace

int run_audit_policies(audit::review& review, const audit_options& o) {
    const auto rows = review.policy_versions();
    if (!rows) {
        std::cerr << "pgsieve: " << rows.error() << "\n";
        return exit_usage;
    }
    const bool merged = rows->columns.size() == 4;
    // Versions in the order first loaded; a fleet's replicas load the same ones.
    std::vector<version> versions;
    std::map<std::string, std::size_t> index;
    for (const auto& row : rows->rows) {
        const std::size_t o_ = merged ? 1 : 0;
        const auto id = audit::cell_text(row[o_]);
        const auto log = merged ? audit::cell_text(row[0]) : std::string();
        auto [it, added] = index.emplace(id, versions.size());
        if (added) versions.push_back({id, audit::cell_text(row[o_ + 1]), {}, config::policy_sections(audit::cell_text(row[o_ + 2]))});
        auto& v = versions[it->second];
        v.loaded_at = std::min(v.loaded_at, audit::cell_text(row[o_ + 1]));
        if (!log.empty()) v.logs.push_back(log);
    }
    std::stable_sort(versions.begin(), versions.end(),
                     [](const version& a, const version& b) { return a.loaded_at < b.loaded_at; });
    std::vector<change> changes;
    std::map<std::string, const config::policy_section*> last;
    for (const auto& v : versions) {
        for (const auto& [name, section] : v.policies) {
            if (!o.policy.empty() && name != o.policy) continue;
            const auto it = last.find(name);
            if (it == last.end() || !it->second) {
                changes.push_back({name, &v, section.owner, "added", line_diff("", section.text)});
            } else if (it->second->text != section.text) {
                changes.push_back({name, &v, section.owner, "changed", line_diff(it->second->text, section.text)});
            }
            last[name] = &section;
        }
        for (auto& [name, section] : last) {
            if (!section || v.policies.contains(name)) continue;
            changes.push_back({name, &v, section->owner, "removed", line_diff(section->text, "")});
            section = nullptr;
        }
    }
    if (!o.policy.empty() && changes.empty()) {
        std::cerr << fmt::format("pgsieve: no policy \"{}\" in any recorded configuration version\n", o.policy);
        return exit_usage;
    }
    if (o.json) {
        std::string out = "[";
        for (const auto& c : changes) {
            if (out.size() > 1) out += ",";
            std::string logs;
            for (const auto& l : c.at->logs) logs += (logs.empty() ? "" : ",") + log::json_string(l);
            out += fmt::format("{{\"policy\":{},\"change\":{},\"version\":{},\"loaded_at\":{},\"owner\":{},"
                               "\"logs\":[{}],\"diff\":{}}}",
                               log::json_string(c.policy), log::json_string(c.kind), log::json_string(c.at->id), log::json_string(c.at->loaded_at), log::json_string(c.owner), logs,
                               log::json_string(c.diff));
        }
        std::cout << out << "]\n";
        return exit_ok;
    }
    fmt::print("{} configuration version{} recorded\n", versions.size(), versions.size() == 1 ? "" : "s");
    for (const auto& c : changes) {
        fmt::print("\n{}  policy {} {}  version {}  owner {}{}\n", c.at->loaded_at, c.policy, c.kind,
                   c.at->id.substr(0, 12), c.owner.empty() ? "(none)" : c.owner,
                   c.at->logs.empty() ? "" : fmt::format("  logs {}", fmt::join(c.at->logs, ", ")));
        std::cout << c.diff;
    }
    return exit_ok;
}

}  // namespace pgsieve::cli
