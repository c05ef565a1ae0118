// policies: and classification: — what each identity may do, and the labels
// that fence off sensitive columns.

#include "loader.hpp"

#include <pgsieve/wire/scram.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::config::detail {

namespace {

const std::initializer_list<std::string_view> statement_names = {"select", "explain", "show", "insert",
                                                                     "update", "delete",  "merge"};
const std::initializer_list<std::string_view> verb_names = {"select", "insert", "update", "delete", "merge"};

statement_kind kind_of(table_verb v) {
    switch (v) {
        case table_verb::select: return statement_kind::select;
        case table_verb::insert: return statement_kind::insert;
        case table_verb::update: return statement_kind::update;
        case table_verb::delete_: return statement_kind::delete_;
        case table_verb::merge: return statement_kind::merge;
    }
    return statement_kind::select;
}

std::optional<std::vector<std::string>> read_columns(loader& l, const located& at) {
    auto list = l.reader.string_list(at, /*allow_empty=*/false);
    if (!list) return std::nullopt;
    for (const auto& c : *list) {
        if (!l.reader.identifier(at, c)) return std::nullopt;
    }
    return list;
}

const std::initializer_list<std::string_view> mask_method_names{"redact", "null", "hash", "last4", "first4",
                                                                   "email_domain"};

std::optional<mask_method> read_mask_method(loader& l, const located& at) {
    const auto v = l.reader.one_of(at, mask_method_names);
    if (!v) return std::nullopt;
    return static_cast<mask_method>(*v);
}

void read_table(loader& l, policy& p, const std::string& name, const located& at) {
    const auto table = l.reader.qualified(at, name);
    const auto fields = l.reader.mapping(at, {"columns", "deny_columns", "allow", "rows", "description",
                                              "column_descriptions", "unbounded_writes", "max_rows_written", "mask"},
                                         /*null_is_empty=*/true);
    if (!table) return;
    table_grant g;
    g.table = *table;
    g.line = at.line;
    const auto* columns = find(fields, "columns");
    const auto* deny = find(fields, "deny_columns");
    if (columns && deny) {
        l.reader.error(*deny, "give either columns (an allowlist) or deny_columns, not both");
    } else if (columns) {
        g.columns = read_columns(l, *columns);
    } else if (deny) {
        g.deny_columns = read_columns(l, *deny).value_or(std::vector<std::string>{});
    }
    if (const auto* f = find(fields, "allow")) {
        g.allow.clear();
        for (const auto& item : l.reader.sequence(*f)) {
            const auto v = l.reader.one_of(item, verb_names);
            if (!v) continue;
            const auto verb = static_cast<table_verb>(*v);
            if (!g.allow.insert(verb).second)
                l.reader.error(item, fmt::format("\"{}\" is listed twice", to_string(verb)));
            // With no valid statements the policy is already an error; do not pile on.
            else if (!p.statements.empty() && !p.statements.contains(kind_of(verb)))
                l.reader.error(item, fmt::format("verb \"{}\" is not among the policy's statements; add it there "
                                                 "or remove it here",
                                                 to_string(verb)));
        }
        if (g.allow.empty() && f->node && f->node.IsSequence() && f->node.size() == 0)
            l.reader.error(*f, "the list is empty: the table would grant nothing");
    }
    if (const auto* f = find(fields, "rows")) {
        const auto rows = l.reader.mapping(*f, {"column", "attribute"});
        row_scope scope;
        if (const auto* c = l.require(rows, *f, "column")) {
            if (auto v = l.reader.string(*c)) scope.column = l.reader.identifier(*c, *v).value_or("");
        }
        if (const auto* a = l.require(rows, *f, "attribute")) {
            if (auto v = l.reader.string(*a)) scope.attribute = *v;
        }
        if (!scope.column.empty() && !scope.attribute.empty()) g.rows = std::move(scope);
    }
    if (const auto* f = find(fields, "description")) g.description = l.reader.string(*f).value_or("");
    if (const auto* f = find(fields, "unbounded_writes")) g.unbounded_writes = l.reader.boolean(*f).value_or(false);
    if (const auto* f = find(fields, "max_rows_written")) {
        if (auto v = l.reader.integer(*f, 1, std::numeric_limits<std::int64_t>::max()))
            g.max_rows_written = static_cast<std::uint64_t>(*v);
        const bool writes = g.allow.contains(table_verb::insert) || g.allow.contains(table_verb::update) ||
                            g.allow.contains(table_verb::delete_) || g.allow.contains(table_verb::merge);
        if (!writes) l.reader.error(*f, "max_rows_written limits writes, and the table allows none (allow: [select])");
    }
    if (const auto* f = find(fields, "mask")) {
        for (const auto& [column, method] : l.reader.mapping(*f)) {
            if (!l.reader.identifier(method, column)) continue;
            if (auto m = read_mask_method(l, method)) p.masks[column_name{*table, column}] = *m;
        }
    }
    if (const auto* f = find(fields, "column_descriptions")) {
        for (const auto& [column, text] : l.reader.mapping(*f, /*null_is_empty=*/true)) {
            if (!l.reader.identifier(text, column)) continue;
            const bool hidden = (g.columns && std::find(g.columns->begin(), g.columns->end(), column) == g.columns->end()) ||
                                std::find(g.deny_columns.begin(), g.deny_columns.end(), column) != g.deny_columns.end();
            if (hidden) {
                l.reader.error(text, fmt::format("describes column \"{}\", which the table entry does not grant", column));
                continue;
            }
            if (auto v = l.reader.string(text)) g.column_descriptions[column] = *v;
        }
    }
    p.tables.emplace(g.table, std::move(g));
}

std::optional<approval_rule> read_approval(loader& l, const policy& p, const located& at) {
    const auto fields = l.reader.mapping(at, {"statements", "tables", "timeout", "webhook_url", "webhook_secret_env",
                                              "webhook_secret_file"});
    approval_rule a;
    a.line = at.line;
    if (const auto* f = find(fields, "statements")) {
        for (const auto& item : l.reader.sequence(*f)) {
            const auto v = l.reader.one_of(item, {"insert", "update", "delete"});
            if (!v) continue;
            const auto verb = static_cast<table_verb>(*v + 1);  // verb_names without select
            if (!p.statements.empty() && !p.statements.contains(kind_of(verb)))
                l.reader.error(item, fmt::format("\"{}\" is not among the policy's statements", to_string(verb)));
            a.statements.insert(verb);
        }
    }
    if (const auto* f = find(fields, "tables")) {
        for (const auto& item : l.reader.sequence(*f)) {
            const auto text = l.reader.string(item);
            if (!text) continue;
            const auto table = l.reader.qualified(item, *text);
            if (!table) continue;
            if (!p.tables.contains(*table))
                l.reader.error(item, fmt::format("table \"{}\" is not among the policy's tables", table->str()));
            a.tables.insert(*table);
        }
    }
    if (!l.cfg.cluster.peers.empty() && !l.cfg.audit.postgresql)
        l.reader.error(at, "a fleet (cluster.peers) keeps approval tickets in the central audit store, where every "
                           "replica sees them: configure audit.export.postgresql (without it a write sent again "
                           "through another replica would not find its ticket)");
    if (a.statements.empty() && a.tables.empty()) {
        l.reader.error(at, "name the writes held for approval: statements (insert, update, delete), tables, or both");
        return std::nullopt;
    }
    if (const auto* f = find(fields, "timeout")) {
        if (auto v = l.reader.duration_value(*f, false)) {
            if (v->count() < 1000) l.reader.error(*f, "an approval's timeout is at least 1s");
            if (*v > std::chrono::days(7)) l.reader.error(*f, "an approval's timeout is at most 7d");
            a.timeout = *v;
        }
    }
    if (const auto* f = find(fields, "webhook_url")) a.webhook = read_http_url(l, *f);
    auto secret = read_secret(l, fields, at, "webhook_secret", /*inline_ok=*/false, /*required=*/false);
    if (secret) a.webhook_secret = std::move(secret->value);
    const bool secret_named = find(fields, "webhook_secret_env") || find(fields, "webhook_secret_file");
    if (find(fields, "webhook_url") && !secret_named)
        l.reader.error(*find(fields, "webhook_url"), "a webhook needs webhook_secret_env or webhook_secret_file to sign its body");
    if (secret && !find(fields, "webhook_url")) l.reader.error(secret->at, "a webhook secret without webhook_url");
    return a;
}

// `mask: {LABEL or schema.table.column: METHOD}` and its key and texts,
// after the tables (whose own `mask:` entries are already in p.masks).
void read_masks(loader& l, policy& p, const std::vector<std::pair<std::string, located>>& fields, const located& at) {
    if (const auto* f = find(fields, "mask")) {
        for (const auto& [key, method] : l.reader.mapping(*f)) {
            const auto m = read_mask_method(l, method);
            if (!m) continue;
            if (const auto label = l.cfg.classification.find(key); label != l.cfg.classification.end()) {
                if (p.accept_classified.contains(key))
                    l.reader.error(method, fmt::format("label \"{}\" is both read raw (accept_classified) and masked: "
                                                       "choose one",
                                                       key));
                // The label's columns in tables the policy lists (a column's own mask wins).
                for (const auto& column : label->second)
                    if (p.tables.contains(column.table)) p.masks.try_emplace(column, *m);
                continue;
            }
            const auto dot = key.rfind('.');
            const auto table = dot == std::string::npos ? std::nullopt : l.reader.qualified(method, key.substr(0, dot));
            if (!table) {
                if (dot == std::string::npos)
                    l.reader.error(method, fmt::format("\"{}\" is neither a classification label nor schema.table.column",
                                                       key));
                continue;
            }
            if (auto column = l.reader.identifier(method, key.substr(dot + 1))) p.masks[column_name{*table, *column}] = *m;
        }
    }
    for (const auto& [column, method] : p.masks) {
        if (!p.tables.contains(column.table))
            l.reader.error(find(fields, "mask") ? *find(fields, "mask") : at,
                           fmt::format("masks column \"{}\" of a table the policy does not list", column.str()));
    }
    if (const auto* f = find(fields, "mask_hash_length")) {
        if (auto v = l.reader.integer(*f, 8, 64)) p.mask_hash_length = static_cast<std::size_t>(*v);
    }
    if (const auto* f = find(fields, "mask_redact_text")) p.mask_redact_text = l.reader.string(*f).value_or("***");
    const bool hashes = std::any_of(p.masks.begin(), p.masks.end(),
                                    [](const auto& m) { return m.second == mask_method::hash; });
    auto key = read_secret(l, fields, at, "mask_key", /*inline_ok=*/false, /*required=*/false);
    if (key) {
        // A short key makes every hashed value guessable offline.
        if (key->value.size() < 32) l.reader.error(key->at, "must be at least 32 bytes (e.g. openssl rand -hex 32)");
        else p.mask_key = std::move(key->value);
    } else if (hashes) {
        l.reader.error(find(fields, "mask") ? *find(fields, "mask") : at,
                       "the hash mask needs a key: mask_key_env or mask_key_file (at least 32 bytes)");
    }
}

void read_policy(loader& l, const std::string& name, const located& at) {
    policy p;
    p.name = name;
    const auto fields = l.reader.mapping(at, {"owner", "description", "mode", "statements", "catalog",
                                              "accept_classified", "max_rows", "max_result_bytes", "on_exceed",
                                              "statement_timeout", "budgets", "functions",
                                              "tables", "upstream_user", "upstream_password_env",
                                              "upstream_password_file", "approval", "mask", "mask_key_env",
                                              "mask_key_file", "mask_hash_length", "mask_redact_text"});
    p.line = at.line;
    for (const auto& [key, value] : fields) p.key_lines[key] = value.line;
    if (const auto* f = find(fields, "owner")) p.owner = l.reader.string(*f).value_or("");
    if (const auto* f = find(fields, "description")) p.description = l.reader.string(*f).value_or("");
    if (const auto* f = find(fields, "mode")) {
        if (auto v = l.reader.one_of(*f, {"enforce", "monitor"})) p.mode = static_cast<policy_mode>(*v);
    }
    if (const auto* f = l.require(fields, at, "statements")) {
        for (const auto& item : l.reader.sequence(*f)) {
            const auto v = l.reader.one_of(item, statement_names);
            if (v && !p.statements.insert(static_cast<statement_kind>(*v)).second)
                l.reader.error(item, fmt::format("\"{}\" is listed twice", statement_names.begin()[*v]));
        }
        if (f->node && f->node.IsSequence() && f->node.size() == 0)
            l.reader.error(*f, "the list is empty: the policy would allow nothing");
    }
    if (const auto* f = find(fields, "catalog")) {
        if (auto v = l.reader.one_of(*f, {"none", "introspection"})) p.catalog = static_cast<catalog_access>(*v);
    }
    if (const auto* f = find(fields, "accept_classified")) {
        // A list of labels, or a mapping label → {reason: why this policy reads them raw}.
        const auto accept = [&](const std::string& label, const located& at_label) {
            if (!l.cfg.classification.contains(label))
                l.reader.error(at_label, fmt::format("no classification label \"{}\"", label));
            p.accept_classified.insert(label);
        };
        if (f->node && f->node.IsMap()) {
            for (const auto& [label, entry] : l.reader.mapping(*f)) {
                accept(label, entry);
                const auto reason = l.reader.mapping(entry, {"reason"}, /*null_is_empty=*/true);
                if (const auto* r = find(reason, "reason")) {
                    if (auto text = l.reader.string(*r); text && !text->empty()) p.classified_reasons[label] = *text;
                }
            }
        } else {
            for (const auto& label : l.reader.string_list(*f, /*allow_empty=*/true).value_or(std::vector<std::string>{}))
                accept(label, *f);
        }
    }
    if (const auto* f = find(fields, "max_rows")) {
        if (auto v = l.reader.integer(*f, 1, std::numeric_limits<std::int64_t>::max()))
            p.max_rows = static_cast<std::uint64_t>(*v);
    }
    if (const auto* f = find(fields, "budgets")) p.budgets = read_budgets(l, *f);
    if (const auto* f = find(fields, "max_result_bytes")) {
        if (auto v = l.reader.byte_size(*f)) p.max_result_bytes = *v;
    }
    if (const auto* f = find(fields, "on_exceed")) {
        if (auto v = l.reader.one_of(*f, {"error", "truncate"})) p.on_exceed = static_cast<on_exceed>(*v);
        if (!find(fields, "max_rows") && !find(fields, "max_result_bytes"))
            l.reader.error(*f, "on_exceed applies to max_rows and max_result_bytes; set one of them");
    }
    if (const auto* f = find(fields, "statement_timeout")) p.statement_timeout = l.reader.duration_value(*f, false);
    if (const auto* f = find(fields, "functions")) {
        for (const auto& fn : l.reader.string_list(*f, /*allow_empty=*/true).value_or(std::vector<std::string>{})) {
            if (auto q = l.reader.qualified(*f, fn)) p.functions.push_back(*q);
        }
    }
    if (const auto* f = find(fields, "tables")) {
        for (const auto& [table, entry] : l.reader.mapping(*f, /*null_is_empty=*/true)) read_table(l, p, table, entry);
    }
    if (const auto* f = find(fields, "upstream_user")) {
        if (auto v = l.reader.string(*f)) p.upstream_user = l.reader.identifier(*f, *v).value_or("");
    }
    if (auto password = read_secret(l, fields, at, "upstream_password", /*inline_ok=*/false, /*required=*/false)) {
        if (p.upstream_user.empty())
            l.reader.error(password->at, "an upstream password for the policy needs its upstream_user");
        if (auto prepared = wire::scram::prepare_password(password->value); !prepared)
            l.reader.error(password->at, prepared.error().detail);
        p.upstream_password = std::move(password->value);
    }
    if (const auto* f = find(fields, "approval")) p.approval = read_approval(l, p, *f);
    read_masks(l, p, fields, at);
    l.cfg.policies.emplace(name, std::move(p));
}

}  // namespace

std::vector<budget> read_budgets(loader& l, const located& at) {
    std::vector<budget> out;
    for (const auto& [name, value] : l.reader.mapping(at, {"statements", "rows", "bytes", "statement_time"})) {
        const auto text = l.reader.string(value);
        if (!text) continue;
        const auto slash = text->find('/');
        if (slash == std::string::npos) {
            l.reader.error(value, fmt::format("expected AMOUNT/WINDOW such as 1000/1h, found \"{}\"", *text));
            continue;
        }
        // Each half read as its own scalar, so its errors name this key.
        const located amount{YAML::Node(text->substr(0, slash)), value.key, value.line};
        const located window{YAML::Node(text->substr(slash + 1)), value.key, value.line};
        budget b;
        std::optional<std::uint64_t> limit;
        if (name == "statements" || name == "rows") {
            b.kind = name == "rows" ? budget_kind::rows : budget_kind::statements;
            if (auto v = l.reader.integer(amount, 1, std::numeric_limits<std::int64_t>::max())) limit = *v;
        } else if (name == "bytes") {
            b.kind = budget_kind::bytes;
            limit = l.reader.byte_size(amount);
        } else {
            b.kind = budget_kind::statement_time;
            if (auto v = l.reader.duration_value(amount, false))
                limit = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(*v).count());
        }
        const auto period = l.reader.duration_value(window, false);
        if (!limit || !period) continue;
        if (period->count() < 1000) {
            l.reader.error(value, "a budget's window is at least 1s");
            continue;
        }
        b.limit = *limit;
        b.window = *period;
        out.push_back(b);
    }
    return out;
}

void read_policies(loader& l, const located& at) {
    const auto entries = l.reader.mapping(at);
    for (const auto& [name, entry] : entries) {
        if (name.empty()) {
            l.reader.error(entry, "a policy needs a name");
            continue;
        }
        if (!is_printable_name(name)) {
            l.reader.error(entry, fmt::format("policy name \"{}\" has control characters or invalid UTF-8",
                                              printable_name(name)));
            continue;
        }
        read_policy(l, name, entry);
    }
    if (entries.empty() && at.node && at.node.IsMap()) l.reader.error(at, "no policies");
}

void read_classification(loader& l, const located& at) {
    for (const auto& [label, entry] : l.reader.mapping(at)) {
        auto& columns = l.cfg.classification[label];
        for (const auto& item : l.reader.sequence(entry)) {
            const auto text = l.reader.string(item);
            if (!text) continue;
            // schema.table.column: the last dot separates the column.
            const auto dot = text->rfind('.');
            const auto table = dot == std::string::npos ? std::nullopt : l.reader.qualified(item, text->substr(0, dot));
            if (!table) {
                if (dot == std::string::npos) l.reader.error(item, fmt::format("\"{}\" must be schema.table.column", *text));
                continue;
            }
            if (auto column = l.reader.identifier(item, text->substr(dot + 1)))
                columns.insert(column_name{*table, *column});
        }
    }
}

}  // namespace pgsieve::config::detail
