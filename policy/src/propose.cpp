#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/propose.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::policy {

namespace {

using config::qualified_name;

bool catalog_schema(std::string_view schema) {
    return schema == "pg_catalog" || schema == "information_schema" || schema.starts_with("pg_toast");
}

// "schema.name" / "schema.table.column" as decide() reports them.
std::optional<qualified_name> split_table(std::string_view text) {
    const auto dot = text.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    return qualified_name{std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
}
std::optional<config::column_name> split_column(std::string_view text) {
    const auto dot = text.rfind('.');
    if (dot == std::string_view::npos) return std::nullopt;
    auto table = split_table(text.substr(0, dot));
    if (!table) return std::nullopt;
    return config::column_name{*table, std::string(text.substr(dot + 1))};
}

void use(usage& u, const std::string& example) {
    if (u.count++ == 0) u.first = example;
}

// The statement kinds a policy names, of a statement and what it wraps.
void collect_kinds(const parser::statement_facts& f, std::set<config::statement_kind>& out) {
    using pk = parser::statement_kind;
    using ck = config::statement_kind;
    switch (f.kind) {
        case pk::select: out.insert(ck::select); break;
        case pk::insert: out.insert(ck::insert); break;
        case pk::update: out.insert(ck::update); break;
        case pk::delete_: out.insert(ck::delete_); break;
        case pk::merge: out.insert(ck::merge); break;
        case pk::explain: out.insert(ck::explain); break;
        case pk::show: out.insert(ck::show); break;
        default: break;
    }
    for (const auto& inner : f.inner) collect_kinds(inner, out);
}

void collect_names(const parser::statement_facts& f, std::vector<parser::relation_ref>& relations,
                   std::vector<std::vector<std::string>>& functions) {
    relations.insert(relations.end(), f.relations.begin(), f.relations.end());
    for (const auto& fn : f.functions) functions.push_back(fn.name);
    for (const auto& inner : f.inner) collect_names(inner, relations, functions);
}

std::optional<config::table_verb> write_verb(parser::statement_kind k) {
    switch (k) {
        case parser::statement_kind::insert: return config::table_verb::insert;
        case parser::statement_kind::update: return config::table_verb::update;
        case parser::statement_kind::delete_: return config::table_verb::delete_;
        case parser::statement_kind::merge: return config::table_verb::merge;
        default: return std::nullopt;
    }
}

// A statement for a one-line YAML comment: whitespace folded, controls dropped, cut short.
std::string one_line(std::string_view sql, std::size_t limit = 100) {
    std::string out;
    bool space = false;
    for (const char ch : sql) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (c < 0x20 || c == 0x7f) continue;
        if (space) out += ' ';
        space = false;
        out += ch;
    }
    if (out.size() > limit) {
        std::size_t cut = limit;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
        out = out.substr(0, cut) + "…";
    }
    return out;
}

std::string evidence(const usage& u) {
    return fmt::format("{} statement{}, first: {}", u.count, u.count == 1 ? "" : "s", one_line(u.first));
}

// A YAML scalar as a double-quoted string.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

// A name as a YAML key or list item: plain when it is a plain identifier.
std::string yaml_name(std::string_view s) {
    const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    }) && !(s[0] >= '0' && s[0] <= '9');
    return plain ? std::string(s) : quoted(s);
}

// A budget as the configuration spells it: 1000/1h, 524288000/1d, 600s/1h.
std::string budget_text(const config::budget& b) {
    const auto span = [](std::int64_t ms) {
        if (ms % 86'400'000 == 0) return fmt::format("{}d", ms / 86'400'000);
        if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
        if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
        if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
        return fmt::format("{}ms", ms);
    };
    const auto amount = b.kind == config::budget_kind::statement_time
                            ? span(static_cast<std::int64_t>(b.limit / 1000))
                            : std::to_string(b.limit);
    return fmt::format("{}: {}/{}", config::to_string(b.kind), amount, span(b.window.count()));
}

}  // namespace

proposer::proposer(const config::config& cfg, const catalog& cat, std::string client, std::string policy_name)
    : cfg_(cfg), catalog_(cat) {
    result_.client = std::move(client);
    if (const auto* c = cfg_.find_client(result_.client)) current_ = cfg_.find_policy(c->policy);
    result_.policy.name = std::move(policy_name);
    if (current_) {
        result_.policy.owner = current_->owner;
        result_.policy.statement_timeout = current_->statement_timeout;
        result_.policy.max_rows = current_->max_rows;
        result_.policy.max_result_bytes = current_->max_result_bytes;
        result_.policy.budgets = current_->budgets;
        result_.policy.on_exceed = current_->on_exceed;
    }
}

void proposer::add(const recorded_statement& s) {
    if (s.sql.empty()) return;
    if (s.normalized) {
        ++result_.skipped_normalized;
        return;
    }
    if (s.verdict == "blocked") {
        use(result_.refused[s.rule.empty() ? "refused" : s.rule], s.sql);
        return;
    }
    if (result_.first_seen.empty() || s.ts < result_.first_seen) result_.first_seen = s.ts;
    if (s.ts > result_.last_seen) result_.last_seen = s.ts;
    learn(s);
}

void proposer::learn(const recorded_statement& s) {
    // A policy wide enough for this statement: its own relations with every
    // column and verb, its functions, discovery, every label. What decide()
    // then reports it reads is what the draft must grant.
    config::policy wide = current_ ? *current_ : config::policy{};
    wide.mode = config::policy_mode::enforce;
    wide.statements = {config::statement_kind::select, config::statement_kind::explain, config::statement_kind::show,
                       config::statement_kind::insert, config::statement_kind::update, config::statement_kind::delete_,
                       config::statement_kind::merge};
    wide.catalog = config::catalog_access::introspection;
    wide.tables.clear();
    wide.functions.clear();
    for (const auto& [label, columns] : cfg_.classification) wide.accept_classified.insert(label);
    const auto path = resolution_path(cfg_.upstream.search_path, cfg_.upstream_user_of(wide));
    const context wide_ctx{cfg_, wide, catalog_, cfg_.upstream.search_path, cfg_.upstream_user_of(wide), nullptr};
    auto parsed = parse_statements(s.sql, wide_ctx);
    if (!parsed) {
        use(result_.not_grantable[parsed.error().message], s.sql);
        return;
    }
    if (uses_session_names(*parsed)) {
        ++result_.skipped_session;
        return;
    }
    std::vector<parser::relation_ref> relations;
    std::vector<std::vector<std::string>> functions;
    for (const auto& f : *parsed) collect_names(f, relations, functions);
    for (const auto& r : relations) {
        const auto* rel = r.schema.empty() ? catalog_.resolve_relation(r.name, path) : catalog_.relation(r.schema, r.name);
        if (!rel || catalog_schema(rel->schema)) continue;
        config::table_grant g;
        g.table = {rel->schema, rel->name};
        g.allow = {config::table_verb::select, config::table_verb::insert, config::table_verb::update,
                   config::table_verb::delete_, config::table_verb::merge};
        g.unbounded_writes = true;
        wide.tables.emplace(g.table, std::move(g));
    }
    for (const auto& name : functions) {
        if (name.size() == 2) {
            if (!catalog_schema(name[0])) wide.functions.push_back({name[0], name[1]});
        } else if (name.size() == 1) {
            for (const auto& schema : path)
                if (!catalog_schema(schema) && catalog_.functions(schema, name[0]))
                    wide.functions.push_back({schema, name[0]});
        }
    }
    const auto d = decide(*parsed, s.sql, wide_ctx);
    if (!d.allowed || d.would_block) {
        use(result_.not_grantable[d.message], s.sql);
        return;
    }
    ++result_.used;
    if (seen_.insert(s.sql).second) checks_.push_back(s);
    // A write that changes every row of its table is allowed only where
    // the table says so: the draft grants unbounded_writes where one ran.
    const bool writes = std::any_of(parsed->begin(), parsed->end(), [](const parser::statement_facts& f) {
        return f.kind == parser::statement_kind::update || f.kind == parser::statement_kind::delete_;
    });
    if (writes) {
        config::policy guarded = wide;
        for (auto& [name, g] : guarded.tables) g.unbounded_writes = false;
        const context guarded_ctx{cfg_, guarded, catalog_, cfg_.upstream.search_path, cfg_.upstream_user_of(guarded),
                                  nullptr};
        if (const auto g = decide(*parsed, s.sql, guarded_ctx); g.rule == rule::guardrail)
            for (const auto& f : *parsed)
                if (const auto* rel = f.target_relation.schema.empty()
                                          ? catalog_.resolve_relation(f.target_relation.name, path)
                                          : catalog_.relation(f.target_relation.schema, f.target_relation.name))
                    use(result_.unbounded[{rel->schema, rel->name}], s.sql);
    }

    std::set<config::statement_kind> kinds;
    for (const auto& f : *parsed) collect_kinds(f, kinds);
    for (const auto k : kinds) {
        result_.policy.statements.insert(k);
        use(result_.statements[k], s.sql);
    }
    if (!d.scoped.empty()) {
        result_.policy.catalog = config::catalog_access::introspection;
        use(result_.catalog, s.sql);
    }
    // The tables a write statement changes get its verb; every table whose
    // columns it reads gets select (an INSERT's target only for RETURNING
    // or ON CONFLICT, which read it).
    std::set<qualified_name> written_only;
    for (const auto& f : *parsed) {
        const auto verb = write_verb(f.kind);
        if (!verb) continue;
        const auto& r = f.target_relation;
        const auto* rel = r.schema.empty() ? catalog_.resolve_relation(r.name, path) : catalog_.relation(r.schema, r.name);
        if (!rel) continue;
        const qualified_name t{rel->schema, rel->name};
        verbs_[t].insert(*verb);
        const bool reads_target = f.kind != parser::statement_kind::insert || f.on_conflict_update ||
                                  std::any_of(f.exprs.begin(), f.exprs.end(), [](const parser::expr& e) {
                                      return e.where == parser::clause::returning;
                                  });
        if (!reads_target) written_only.insert(t);
    }
    for (const auto& text : d.tables) {
        const auto t = split_table(text);
        if (!t || catalog_schema(t->schema)) continue;
        auto& verbs = verbs_[*t];
        if (!written_only.contains(*t)) verbs.insert(config::table_verb::select);
        use(result_.tables[*t], s.sql);
    }
    for (const auto& text : d.columns) {
        const auto c = split_column(text);
        if (!c || catalog_schema(c->table.schema)) continue;
        std::string label;
        for (const auto& [l, columns] : cfg_.classification)
            if (columns.contains(*c)) label = l;
        if (!label.empty()) {
            auto& [held_label, u] = result_.classified[*c];
            held_label = label;
            use(u, s.sql);
            continue;
        }
        use(result_.columns[*c], s.sql);
    }
    for (const auto& text : d.functions) {
        const auto fn = split_table(text);
        if (!fn || catalog_schema(fn->schema)) continue;
        if (std::find(result_.policy.functions.begin(), result_.policy.functions.end(), *fn) ==
            result_.policy.functions.end())
            result_.policy.functions.push_back(*fn);
        use(result_.functions[*fn], s.sql);
    }
}

proposal proposer::finish() {
    // A grant per table used: its verbs, and the columns read or written in
    // the catalog's order.
    for (const auto& [t, verbs] : verbs_) {
        if (verbs.empty()) continue;
        config::table_grant g;
        g.table = t;
        g.allow = verbs;
        g.unbounded_writes = result_.unbounded.contains(t);
        g.columns.emplace();
        const auto* rel = catalog_.relation(t.schema, t.name);
        for (const auto& column : rel ? rel->columns : std::vector<std::string>{})
            if (result_.columns.contains({t, column})) g.columns->push_back(column);
        if (g.columns->empty()) {
            // Nothing but classified columns, or no column at all (count(*)):
            // the allowlist cannot be empty; the first unclassified column
            // grants the table and says nothing.
            if (!rel) continue;
            for (const auto& column : rel->columns) {
                bool classified = false;
                for (const auto& [label, columns] : cfg_.classification) classified |= columns.contains({t, column});
                if (classified) continue;
                g.columns->push_back(column);
                result_.filler_columns.insert({t, column});
                break;
            }
            if (g.columns->empty()) continue;
        }
        result_.policy.tables.emplace(t, std::move(g));
    }
    // The draft against what it was drawn from.
    config::config draft = cfg_;
    draft.policies[result_.policy.name] = result_.policy;
    for (auto& c : draft.clients)
        if (c.name == result_.client) c.policy = result_.policy.name;
    for (const auto& s : checks_) {
        const auto& p = draft.policies.at(result_.policy.name);
        const context ctx{draft, p, catalog_, draft.upstream.search_path, draft.upstream_user_of(p), nullptr};
        const auto d = decide(s.sql, ctx);
        if (!d.allowed || d.would_block) use(result_.still_refused[d.message], s.sql);
    }
    return std::move(result_);
}

std::string proposal::yaml(const std::string& source) const {
    std::string out;
    const auto line = [&out](std::string_view text) {
        out += text;
        out += '\n';
    };
    line(fmt::format("# Drafted by `pgsieve policy propose` for client \"{}\" from {} statement{} it ran ({} to {}) "
                     "in {}.",
                     client, used, used == 1 ? "" : "s", first_seen, last_seen, source));
    line("# Every grant is one the client used; each comment says how often and the first statement that did.");
    line("# Review it, then `pgsieve policy lint` and `pgsieve policy test` before it replaces the policy.");
    if (skipped_normalized)
        line(fmt::format("# {} statements recorded with audit.store_sql: normalized were not read (their constants are gone).",
                         skipped_normalized));
    if (skipped_session)
        line(fmt::format("# {} EXECUTE/FETCH statements were not read: what they run is decided when it is prepared.",
                         skipped_session));
    for (const auto& [rule, u] : refused)
        line(fmt::format("# Left out, refused when recorded ({}): {}", rule, evidence(u)));
    for (const auto& [message, u] : not_grantable)
        line(fmt::format("# Left out, no policy allows it ({}): {}", one_line(message, 120), evidence(u)));
    for (const auto& [message, u] : still_refused)
        line(fmt::format("# NOTE: this draft still refuses ({}): {}", one_line(message, 120), evidence(u)));
    line("policies:");
    line(fmt::format("  {}:", yaml_name(policy.name)));
    line(fmt::format("    owner: {}", policy.owner.empty() ? "\"\"   # TODO: who answers for changes to this policy"
                                                            : quoted(policy.owner)));
    line(fmt::format("    description: {}", quoted(fmt::format("least privilege for {}, drafted from {} statements",
                                                               client, used))));
    if (policy.statements.empty()) {
        line("    statements: []   # the client ran nothing a policy can grant: the list must name something");
    } else {
        line("    statements:");
        for (const auto k : policy.statements)
            line(fmt::format("      - {:<10} # {}", config::to_string(k), evidence(statements.at(k))));
    }
    if (policy.catalog == config::catalog_access::introspection)
        line(fmt::format("    catalog: introspection   # schema discovery: {}", evidence(catalog)));
    if (policy.statement_timeout)
        line(fmt::format("    statement_timeout: {}ms", policy.statement_timeout->count()));
    if (!policy.budgets.empty()) {
        std::vector<std::string> budgets;
        for (const auto& b : policy.budgets) budgets.push_back(budget_text(b));
        line(fmt::format("    budgets: {{{}}}", fmt::join(budgets, ", ")));
    }
    if (policy.max_rows) line(fmt::format("    max_rows: {}", *policy.max_rows));
    if (policy.max_result_bytes) line(fmt::format("    max_result_bytes: {}", *policy.max_result_bytes));
    if ((policy.max_rows || policy.max_result_bytes) && policy.on_exceed == config::on_exceed::truncate)
        line("    on_exceed: truncate");
    if (!policy.functions.empty()) {
        line("    functions:");
        for (const auto& fn : policy.functions)
            line(fmt::format("      - {}   # {}", yaml_name(fn.str()), evidence(functions.at(fn))));
    }
    // Classified columns by table, for the tables that have any.
    std::map<qualified_name, std::vector<std::pair<std::string, const std::pair<std::string, usage>*>>> held;
    for (const auto& [column, use] : classified) held[column.table].emplace_back(column.column, &use);
    std::set<qualified_name> all_tables;
    for (const auto& [t, g] : policy.tables) all_tables.insert(t);
    for (const auto& [t, cols] : held) all_tables.insert(t);
    if (!all_tables.empty()) line("    tables:");
    for (const auto& t : all_tables) {
        const auto it = policy.tables.find(t);
        const bool has_columns = it != policy.tables.end() && it->second.columns && !it->second.columns->empty();
        const auto table_use = tables.find(t);
        if (!has_columns) {
            // Only classified columns were read: nothing to grant without a decision.
            line(fmt::format("      # {}:   # every column read here is classified:", yaml_name(t.str())));
            for (const auto& [column, u] : held[t])
                line(fmt::format("      #   {} ({}): {}", column, u->first, evidence(u->second)));
            continue;
        }
        const auto& g = it->second;
        line(fmt::format("      {}:{}", yaml_name(t.str()),
                         table_use != tables.end() ? "   # " + evidence(table_use->second) : std::string()));
        std::vector<std::string> verbs;
        for (const auto v : g.allow) verbs.emplace_back(config::to_string(v));
        line(fmt::format("        allow: [{}]", fmt::join(verbs, ", ")));
        if (const auto u = unbounded.find(t); u != unbounded.end())
            line(fmt::format("        unbounded_writes: true   # writes without a WHERE on the table: {}",
                             evidence(u->second)));
        line("        columns:");
        for (const auto& c : *g.columns) {
            const auto u = columns.find({t, c});
            line(fmt::format("          - {:<20} # {}", yaml_name(c),
                             u != columns.end() ? evidence(u->second)
                                                : std::string("no column was read (count(*)): the list needs one")));
        }
        for (const auto& [column, u] : held[t])
            line(fmt::format("          # - {:<18} # classified \"{}\": not granted; {} (granting it is a decision: "
                             "accept_classified with a reason)",
                             column, u->first, evidence(u->second)));
    }
    return out;
}

}  // namespace pgsieve::policy
