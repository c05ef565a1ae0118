#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/replay.hpp>

#include <fmt/format.h>

namespace pgsieve::policy {

std::string_view to_string(verdict_change c) {
    switch (c) {
        case verdict_change::newly_refused: return "newly refused";
        case verdict_change::newly_allowed: return "newly allowed";
        case verdict_change::changed_rule: return "refused by another rule";
    }
    return "";
}

replayer::replayer(const config::config& candidate, const catalog& cat, const config::config* baseline)
    : candidate_(candidate), catalog_(cat), baseline_(baseline) {}

replayer::outcome replayer::decide_under(const config::config& cfg, const std::string& client,
                                         const std::string& sql) const {
    const auto* c = cfg.find_client(client);
    const auto* p = c ? cfg.find_policy(c->policy) : nullptr;
    if (!p)
        return {true, std::string(to_string(rule::policy)),
                fmt::format("no client \"{}\" in the configuration", client), false, {}};
    const context ctx{cfg, *p, catalog_, cfg.upstream.search_path, cfg.upstream_user_of(*p), nullptr};
    auto parsed = parse_statements(sql, ctx);
    if (!parsed) return {true, std::string(to_string(parsed.error().rule)), parsed.error().message, false, {}};
    // EXECUTE and FETCH are decided by the session's prepared statement or
    // cursor, which the audit does not hold: replaying them alone says nothing.
    if (uses_session_names(*parsed)) return {false, "", "", true, {}};
    const auto d = decide(*parsed, sql, ctx);
    const bool refused = !d.allowed || d.would_block;
    outcome out{refused, refused ? std::string(to_string(d.rule)) : "", refused ? d.message : "", false, {}};
    for (const auto& column : d.columns)
        for (const auto& [label, columns] : cfg.classification)
            for (const auto& c : columns)
                if (c.str() == column) out.classified.push_back(column);
    return out;
}

const replayer::outcome& replayer::decided(const config::config& cfg,
                                           std::map<std::pair<std::string, std::string>, outcome>& memo,
                                           const recorded_statement& s) {
    // One decision per text and policy: clients sharing a policy share it.
    const auto* c = cfg.find_client(s.client);
    auto key = std::make_pair(c ? c->policy : "\x01" + s.client, s.sql);
    auto it = memo.find(key);
    if (it == memo.end()) {
        // Bounded: a month of texts that are all distinct (constants inlined)
        // would hold every one; past the bound a text may be decided again.
        if (memo.size() >= max_memo) memo.clear();
        it = memo.emplace(std::move(key), decide_under(cfg, s.client, s.sql)).first;
        if (&memo == &after_) ++result_.distinct;
    }
    return it->second;
}

void replayer::add(const recorded_statement& s) {
    ++result_.recorded;
    if (s.sql.empty()) {
        ++result_.skipped_no_text;
        return;
    }
    if (s.normalized) {
        ++result_.skipped_normalized;
        return;
    }
    const auto& after = decided(candidate_, after_, s);
    if (after.session_dependent) {
        ++result_.skipped_session;
        return;
    }
    outcome recorded;
    if (baseline_) {
        recorded = decided(*baseline_, before_, s);
    } else {
        recorded.refused = s.verdict != "allowed";
        recorded.rule = recorded.refused ? s.rule : "";
    }
    ++result_.replayed;
    if (result_.first_seen.empty() || s.ts < result_.first_seen) result_.first_seen = s.ts;
    if (s.ts > result_.last_seen) result_.last_seen = s.ts;

    verdict_change change;
    if (!recorded.refused && after.refused) {
        change = verdict_change::newly_refused;
    } else if (recorded.refused && !after.refused) {
        change = verdict_change::newly_allowed;
    } else if (recorded.refused && after.refused && recorded.rule != after.rule) {
        change = verdict_change::changed_rule;
    } else {
        return;
    }
    ++result_.changed[change];
    if (change == verdict_change::newly_allowed && !after.classified.empty()) ++result_.newly_allowed_classified;
    const auto* c = candidate_.find_client(s.client);
    const std::string policy_name = c ? c->policy : "";
    auto& g = groups_[{change, s.client, policy_name, s.tool, s.fingerprint, recorded.rule, after.rule}];
    if (g.count++ == 0) {
        g.change = change;
        g.client = s.client;
        g.policy = policy_name;
        g.tool = s.tool;
        g.fingerprint = s.fingerprint;
        g.rule_before = recorded.rule;
        g.rule_after = after.rule;
        g.message = after.message;
        g.classified = after.classified;
        g.example = s.sql;
        g.first_seen = g.last_seen = s.ts;
    }
    if (s.ts < g.first_seen) g.first_seen = s.ts;
    if (s.ts > g.last_seen) g.last_seen = s.ts;
}

replay_result replayer::finish() {
    for (auto& [key, g] : groups_) result_.groups.push_back(std::move(g));
    groups_.clear();
    return std::move(result_);
}

}  // namespace pgsieve::policy
