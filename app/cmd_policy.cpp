// pgsieve policy test|propose|lint: owning the policy. `test` replays
// recorded statements under a candidate configuration and diffs verdicts;
// `propose` drafts the least policy that allows what a client ran; `lint`
// names what a configuration grants wider than it needs to.

#include "audit_sources.hpp"
#include "commands.hpp"

#include <pgsieve/audit/tags.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/config/load.hpp>
#include <pgsieve/config/sections.hpp>
#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/policy/lint.hpp>
#include <pgsieve/policy/propose.hpp>
#include <pgsieve/policy/replay.hpp>
#include <pgsieve/policy/upstream_check.hpp>

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

namespace pgsieve::cli {

namespace {

expected<std::shared_ptr<const config::config>, std::string> load_config(const std::string& file) {
    const auto loaded = config::load_file(file, secrets_optional(file));
    if (!loaded) {
        print_config_errors(loaded.error(), file);
        return unexpected(fmt::format("{} is not a valid configuration", file));
    }
    return *loaded;
}

// --catalog FILE (a `pgsieve dump-catalog` snapshot), else the configuration's upstream, live.
expected<std::shared_ptr<const policy::catalog>, std::string> catalog_for(const config::config& cfg,
                                                                         const std::string& file) {
    if (file.empty()) {
        auto live = net::load_catalog(cfg);
        if (!live) return unexpected("cannot read the catalog from the " + live.error() + " (or give --catalog FILE)");
        return *live;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) return unexpected(fmt::format("cannot read {}", file));
    std::stringstream text;
    text << in.rdbuf();
    const auto rows = policy::read_catalog_rows(text.str());
    if (!rows) return unexpected(fmt::format("{} is not a `pgsieve dump-catalog` snapshot", file));
    return policy::catalog_from_rows(*rows);
}


// A JSON array of strings as the audit writes it (tables, columns).
std::vector<std::string> json_strings(std::string_view json) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < json.size()) {
        if (json[i] != '"') {
            ++i;
            continue;
        }
        std::string s;
        for (++i; i < json.size() && json[i] != '"'; ++i) {
            if (json[i] != '\\' || i + 1 >= json.size()) {
                s += json[i];
                continue;
            }
            const char e = json[++i];
            unsigned cp = 0;
            if (e == 'u' && i + 4 < json.size() &&
                std::from_chars(json.data() + i + 1, json.data() + i + 5, cp, 16).ptr == json.data() + i + 5) {
                i += 4;
                if (cp < 0x80) {
                    s += static_cast<char>(cp);
                } else if (cp < 0x800) {
                    s += static_cast<char>(0xC0 | (cp >> 6));
                    s += static_cast<char>(0x80 | (cp & 0x3F));
                } else {
                    s += static_cast<char>(0xE0 | (cp >> 12));
                    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                    s += static_cast<char>(0x80 | (cp & 0x3F));
                }
            } else {
                s += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
            }
        }
        ++i;
        out.push_back(std::move(s));
    }
    return out;
}

// The recorded statements of the logs under the filter, oldest first, to `each`.
expected<void, std::string> read_recorded(const policy_options& o, const std::string& default_config,
                                          const std::function<void(const policy::recorded_statement&,
                                                                   const std::vector<std::string>& columns,
                                                                   const std::vector<audit::cell>& row)>& each) {
    review_sources logs;
    if (auto r = logs.add(o.db, o.instance, o.config_file.empty() ? default_config : o.config_file); !r) return r;
    auto review = audit::review::open(logs.all);
    if (!review) return unexpected(review.error());
    // Which configuration versions recorded statements without their constants.
    std::set<std::string> normalized_versions;
    const auto versions = review->policy_versions();
    if (!versions) return unexpected(versions.error());
    for (const auto& row : versions->rows) {
        const auto offset = versions->columns.size() - 3;  // `log` first when several
        if (config::recorded_sql_mode(audit::cell_text(row[offset + 2])) == config::store_sql::normalized)
            normalized_versions.insert(audit::cell_text(row[offset]));
    }
    audit::statement_filter filter;
    filter.client = o.client;
    filter.policy = o.policy;
    if (!o.since.empty()) {
        auto since = audit::parse_since(o.since, std::chrono::system_clock::now());
        if (!since) return unexpected(since.error());
        filter.since = *since;
    }
    std::map<std::string, std::size_t> at;
    return review->export_statements(filter, [&](const auto& columns, const auto& row) {
        if (at.empty())
            for (std::size_t i = 0; i < columns.size(); ++i) at[columns[i]] = i;
        const auto get = [&](const char* name) {
            const auto it = at.find(name);
            return it == at.end() ? std::string() : audit::cell_text(row[it->second]);
        };
        policy::recorded_statement s;
        s.ts = get("ts");
        s.client = get("client");
        s.sql = get("sql");
        s.fingerprint = get("fingerprint");
        s.verdict = get("verdict");
        s.rule = get("rule");
        s.normalized = normalized_versions.contains(get("policy_version"));
        for (const auto& [key, value] : audit::sqlcommenter_tags(s.sql))
            if (key == "tool") s.tool = value;
        each(s, columns, row);
    });
}

// ---- test ----

std::string group_json(const policy::replay_group& g) {
    std::string classified;
    for (const auto& c : g.classified) classified += (classified.empty() ? "" : ",") + log::json_string(c);
    return fmt::format(
        "{{\"change\":{},\"client\":{},\"policy\":{},\"tool\":{},\"fingerprint\":{},\"rule_before\":{},"
        "\"rule_after\":{},\"message\":{},\"classified\":[{}],\"count\":{},\"first_seen\":{},\"last_seen\":{},"
        "\"example\":{}}}",
        log::json_string(to_string(g.change)), log::json_string(g.client), log::json_string(g.policy), log::json_string(g.tool), log::json_string(g.fingerprint), log::json_string(g.rule_before),
        log::json_string(g.rule_after), log::json_string(g.message), classified, g.count, log::json_string(g.first_seen), log::json_string(g.last_seen), log::json_string(g.example));
}

void print_replay(const policy::replay_result& r, const std::string& baseline, double seconds) {
    fmt::print("replayed {} of {} recorded statements ({} distinct texts, {} to {}) against {}; {:.0f} statements/s\n",
               r.replayed, r.recorded, r.distinct, r.first_seen.empty() ? "-" : r.first_seen,
               r.last_seen.empty() ? "-" : r.last_seen, baseline, seconds > 0 ? r.recorded / seconds : 0.0);
    if (r.skipped_normalized)
        fmt::print("skipped {} recorded with audit.store_sql: normalized (their constants were not kept)\n",
                   r.skipped_normalized);
    if (r.skipped_session)
        fmt::print("skipped {} EXECUTE/FETCH (what they run was decided when it was prepared, which is replayed)\n",
                   r.skipped_session);
    if (r.skipped_no_text) fmt::print("skipped {} with no text recorded\n", r.skipped_no_text);
    for (const auto change : {policy::verdict_change::newly_refused, policy::verdict_change::newly_allowed,
                              policy::verdict_change::changed_rule}) {
        const auto it = r.changed.find(change);
        const auto count = it == r.changed.end() ? 0 : it->second;
        fmt::print("\n{}: {} statement{}\n", to_string(change), count, count == 1 ? "" : "s");
        for (const auto& g : r.groups) {
            if (g.change != change) continue;
            fmt::print("  client {}  policy {}  tool {}  fingerprint {}  ×{}  ({} … {})\n", g.client,
                       g.policy.empty() ? "(none)" : g.policy, g.tool.empty() ? "-" : g.tool, g.fingerprint, g.count,
                       g.first_seen, g.last_seen);
            if (!g.rule_before.empty() || !g.rule_after.empty())
                fmt::print("    rule: {} → {}\n", g.rule_before.empty() ? "allowed" : g.rule_before,
                           g.rule_after.empty() ? "allowed" : g.rule_after);
            fmt::print("    example: {}\n", g.example);
            if (!g.classified.empty()) fmt::print("    reads classified: {}\n", fmt::join(g.classified, ", "));
            if (!g.message.empty()) fmt::print("    now: {}\n", g.message);
        }
    }
}

int run_test(const policy_options& o) {
    const auto candidate = load_config(o.candidate);
    if (!candidate) {
        std::cerr << "pgsieve policy test: " << candidate.error() << "\n";
        return exit_usage;
    }
    std::shared_ptr<const config::config> baseline;
    if (!o.config_file.empty()) {
        auto loaded = load_config(o.config_file);
        if (!loaded) {
            std::cerr << "pgsieve policy test: " << loaded.error() << "\n";
            return exit_usage;
        }
        baseline = *loaded;
    }
    const auto catalog = catalog_for(**candidate, o.catalog_file);
    if (!catalog) {
        std::cerr << "pgsieve policy test: " << catalog.error() << "\n";
        return exit_usage;
    }
    const auto started = std::chrono::steady_clock::now();
    policy::replayer replayer(**candidate, **catalog, baseline.get());
    const auto read = read_recorded(o, o.candidate, [&](const auto& s, const auto&, const auto&) { replayer.add(s); });
    if (!read) {
        std::cerr << "pgsieve policy test: " << read.error() << "\n";
        return exit_usage;
    }
    const auto result = replayer.finish();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string against = baseline ? o.config_file : std::string("the verdicts recorded");
    if (o.json) {
        std::string groups;
        for (const auto& g : result.groups) groups += (groups.empty() ? "" : ",") + group_json(g);
        const auto count = [&](policy::verdict_change c) {
            const auto it = result.changed.find(c);
            return it == result.changed.end() ? std::uint64_t{0} : it->second;
        };
        fmt::print("{{\"candidate\":{},\"baseline\":{},\"recorded\":{},\"replayed\":{},\"distinct\":{},"
                   "\"skipped_normalized\":{},\"skipped_session\":{},\"skipped_no_text\":{},\"newly_refused\":{},"
                   "\"newly_allowed\":{},\"newly_allowed_classified\":{},\"changed_rule\":{},\"first_seen\":{},\"last_seen\":{},\"seconds\":{:.3f},"
                   "\"groups\":[{}]}}\n",
                   log::json_string(o.candidate), log::json_string(against), result.recorded, result.replayed, result.distinct,
                   result.skipped_normalized, result.skipped_session, result.skipped_no_text,
                   count(policy::verdict_change::newly_refused), count(policy::verdict_change::newly_allowed),
                   result.newly_allowed_classified, count(policy::verdict_change::changed_rule), log::json_string(result.first_seen), log::json_string(result.last_seen), seconds,
                   groups);
    } else {
        print_replay(result, against, seconds);
    }
    const auto has = [&](policy::verdict_change c) { return result.changed.contains(c); };
    if (o.fail_on == "newly-allowed") return has(policy::verdict_change::newly_allowed) ? exit_refused : exit_ok;
    if (o.fail_on == "newly-refused") return has(policy::verdict_change::newly_refused) ? exit_refused : exit_ok;
    if (o.fail_on == "newly-allowed-classified") return result.newly_allowed_classified ? exit_refused : exit_ok;
    return result.changed.empty() ? exit_ok : exit_refused;
}

// ---- propose ----

int run_propose(const policy_options& o) {
    const auto cfg = load_config(o.config_file);
    if (!cfg) {
        std::cerr << "pgsieve policy propose: " << cfg.error() << "\n";
        return exit_usage;
    }
    const auto* client = (*cfg)->find_client(o.client);
    if (!client) {
        std::cerr << fmt::format("pgsieve policy propose: no client \"{}\" in {}\n", o.client, o.config_file);
        return exit_usage;
    }
    const auto catalog = catalog_for(**cfg, o.catalog_file);
    if (!catalog) {
        std::cerr << "pgsieve policy propose: " << catalog.error() << "\n";
        return exit_usage;
    }
    policy::proposer proposer(**cfg, **catalog, o.client, o.name.empty() ? client->policy : o.name);
    policy_options filtered = o;
    filtered.policy.clear();  // every statement of the client, whichever policy decided it
    const auto read = read_recorded(filtered, o.config_file, [&](const auto& s, const auto&, const auto&) {
        proposer.add(s);
    });
    if (!read) {
        std::cerr << "pgsieve policy propose: " << read.error() << "\n";
        return exit_usage;
    }
    const auto draft = proposer.finish();
    if (draft.used == 0) {
        std::cerr << fmt::format("pgsieve policy propose: client \"{}\" ran nothing a policy could be drawn from{}\n",
                                 o.client, o.since.empty() ? "" : " since " + o.since);
        return exit_usage;
    }
    const std::string source = o.db.empty() ? "the audit log of " + o.config_file : fmt::format("{}", fmt::join(o.db, ", "));
    std::cout << draft.yaml(source);
    if (!draft.still_refused.empty()) {
        std::uint64_t n = 0;
        for (const auto& [m, u] : draft.still_refused) n += u.count;
        std::cerr << fmt::format("pgsieve policy propose: the draft still refuses {} of the statements it was drawn "
                                 "from (see the NOTE lines)\n",
                                 n);
    }
    return std::cout ? exit_ok : exit_usage;
}

// ---- lint ----

int run_lint(const policy_options& o) {
    const auto cfg = load_config(o.config_file);
    if (!cfg) {
        std::cerr << "pgsieve policy lint: " << cfg.error() << "\n";
        return exit_usage;
    }
    policy::lint_inputs in;
    std::shared_ptr<const policy::catalog> catalog;
    if (o.upstream || !o.catalog_file.empty()) {
        auto loaded = catalog_for(**cfg, o.catalog_file);
        if (!loaded) {
            std::cerr << "pgsieve policy lint: " << loaded.error() << "\n";
            return exit_usage;
        }
        catalog = *loaded;
        in.cat = catalog.get();
    }
    policy::upstream_report report;
    if (o.upstream) {
        report = policy::check_upstream(**cfg, *catalog);
        in.upstream = &report;
    }
    std::map<std::string, policy::grant_usage> usage;
    if (o.audit) {
        policy_options window = o;
        window.since = o.unused_since;
        window.client.clear();
        window.policy.clear();
        const auto read = read_recorded(window, o.config_file, [&](const auto& s, const auto& columns,
                                                                   const auto& row) {
            if (s.verdict != "allowed") return;
            std::map<std::string, std::string> values;
            for (std::size_t i = 0; i < columns.size(); ++i)
                if (columns[i] == "policy" || columns[i] == "tables" || columns[i] == "columns" ||
                    columns[i] == "command_tag")
                    values[columns[i]] = audit::cell_text(row[i]);
            auto& u = usage[values["policy"]];
            ++u.statements;
            const auto tag = values["command_tag"].substr(0, values["command_tag"].find(' '));
            for (const auto k : {config::statement_kind::select, config::statement_kind::explain,
                                 config::statement_kind::show, config::statement_kind::insert,
                                 config::statement_kind::update, config::statement_kind::delete_,
                                 config::statement_kind::merge}) {
                std::string name(config::to_string(k));
                for (auto& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                if (tag == name) u.kinds.insert(k);
            }
            for (const auto& t : json_strings(values["tables"])) {
                const auto dot = t.find('.');
                if (dot != std::string::npos) u.tables.insert({t.substr(0, dot), t.substr(dot + 1)});
            }
            for (const auto& c : json_strings(values["columns"])) {
                const auto last = c.rfind('.');
                const auto first = c.find('.');
                if (first != std::string::npos && last != first)
                    u.columns.insert({{c.substr(0, first), c.substr(first + 1, last - first - 1)}, c.substr(last + 1)});
            }
        });
        if (!read) {
            std::cerr << "pgsieve policy lint: " << read.error() << "\n";
            return exit_usage;
        }
        in.usage = &usage;
        in.usage_window = o.unused_since;
    }
    const auto findings = policy::lint(**cfg, in);
    if (o.format == "json") {
        std::cout << policy::lint_json(findings, o.config_file) << "\n";
    } else if (o.format == "sarif") {
        std::cout << policy::lint_sarif(findings, o.config_file, PGSIEVE_VERSION) << "\n";
    } else {
        std::cout << policy::lint_text(findings, o.config_file);
    }
    // Exit 1 when something needs fixing (a warning or an error); notes are advice.
    const bool serious = std::any_of(findings.begin(), findings.end(), [](const policy::lint_finding& f) {
        return f.severity != policy::lint_severity::note;
    });
    return serious ? exit_refused : exit_ok;
}

}  // namespace

int run_policy(const policy_options& o) {
    if (o.command == "test") return run_test(o);
    if (o.command == "propose") return run_propose(o);
    if (o.command == "lint") return run_lint(o);
    return exit_usage;
}

}  // namespace pgsieve::cli
