// Statement kinds and the plumbing every session needs; references are
// checked in check_references.cpp.

#include "check_references.hpp"
#include "masking.hpp"
#include "discovery.hpp"
#include "explain_plan.hpp"
#include "resolve.hpp"
#include "write_guardrail.hpp"
#include "types.hpp"
#include "value_types.hpp"

#include <pgsieve/parser/parse.hpp>
#include <pgsieve/policy/builtins.hpp>
#include <pgsieve/policy/decide.hpp>
#include <pgsieve/policy/parameters.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace pgsieve::policy {

using namespace detail;
using parser::statement_kind;
using parser::transaction_kind;

std::string_view to_string(rule r) {
    switch (r) {
        case rule::none: return "";
        case rule::statement: return "statement";
        case rule::relation: return "relation";
        case rule::column: return "column";
        case rule::function: return "function";
        case rule::operator_: return "operator";
        case rule::type: return "type";
        case rule::parameter: return "parameter";
        case rule::prepared: return "prepared";
        case rule::unresolved: return "unresolved";
        case rule::unsupported: return "unsupported";
        case rule::syntax: return "syntax";
        case rule::limit: return "limit";
        case rule::catalog: return "catalog";
        case rule::policy: return "policy";
        case rule::audit: return "audit";
        case rule::guardrail: return "guardrail";
        case rule::budget: return "budget";
        case rule::approval: return "approval";
    }
    return "unsupported";
}

namespace {

// The SQL command name of a statement, for messages: CreateStmt → CREATE.
std::string command_of(const parser::statement_facts& f) {
    const std::string& text = f.text;
    const auto start = text.find_first_not_of(" \t\r\n(");
    if (start == std::string::npos) return f.node;
    std::string word;
    for (std::size_t i = start; i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])); ++i)
        word += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
    return word.empty() ? f.node : word;
}

// Where the statement's first keyword is, for a refusal of the whole statement.
int start_of(const parser::statement_facts& f) {
    const auto skip = f.text.find_first_not_of(" \t\r\n");
    return f.location + static_cast<int>(skip == std::string::npos ? 0 : skip);
}

refusal plain(rule r, std::string message, std::string detail, std::string hint, int location) {
    return refusal{r, std::move(message), std::move(detail), std::move(hint), location};
}

refusal kind_refusal(const parser::statement_facts& f, const context& ctx, std::string_view what) {
    return plain(rule::statement, fmt::format("pgsieve: {} statements are not allowed by policy \"{}\"", what, ctx.policy.name),
                 fmt::format("rule: statements [{}]", statements_of(ctx.policy)),
                 fmt::format("allowed statements: {}", statements_of(ctx.policy)), start_of(f));
}

void merge_unique(std::vector<std::string>& into, const std::vector<std::string>& from) {
    for (const auto& item : from) {
        if (std::find(into.begin(), into.end(), item) == into.end()) into.push_back(item);
    }
}

// Named objects a query string creates or drops before its later statements
// run (PREPARE p …; EXECUTE p in one string).
struct pending_names {
    std::map<std::string, std::shared_ptr<const decision>> prepared, portals;
};

class decider {
public:
    decider(const context& ctx, const std::vector<std::string>& path, decision& out, pending_names& pending,
            std::vector<discovery_site>& sites)
        : ctx_(ctx), scope_{ctx, path}, out_(out), pending_(pending), sites_(sites) {}

    verdict statement(const parser::statement_facts& f) {
        if (!top_) top_ = &f;
        if (f.kind == statement_kind::merge && !ctx_.policy.statements.contains(config::statement_kind::merge))
            return kind_refusal(f, ctx_, "MERGE");
        if (!f.unsupported.empty()) {
            const auto& u = f.unsupported.front();
            return plain(rule::unsupported,
                         fmt::format("pgsieve: the statement uses {}, which pgsieve does not analyse", u.what),
                         "rule: anything the analysis does not fully understand is refused",
                         "rewrite the query without it", u.location >= 0 ? u.location : start_of(f));
        }
        switch (f.kind) {
            case statement_kind::select: return query(f);
            case statement_kind::insert: return write(f, config::statement_kind::insert, config::table_verb::insert);
            case statement_kind::update: return write(f, config::statement_kind::update, config::table_verb::update);
            case statement_kind::delete_: return write(f, config::statement_kind::delete_, config::table_verb::delete_);
            case statement_kind::explain: return explain(f);
            case statement_kind::show: return show(f);
            case statement_kind::set: return set(f);
            case statement_kind::reset: return reset(f);
            case statement_kind::transaction: return transaction(f);
            case statement_kind::set_transaction:
                if (f.read_write && !ctx_.policy.writes()) return kind_refusal(f, ctx_, "READ WRITE transaction");
                return std::nullopt;
            case statement_kind::prepare: return prepare(f);
            case statement_kind::declare_cursor: return declare(f);
            case statement_kind::execute: return execute(f);
            case statement_kind::fetch: return fetch(f);
            case statement_kind::deallocate:
                out_.effects.push_back({f.object_name.empty() ? session_effect::kind::deallocate_all
                                                              : session_effect::kind::deallocate,
                                        f.object_name, {}, false});
                if (f.object_name.empty()) pending_.prepared.clear();
                else pending_.prepared.erase(f.object_name);
                return std::nullopt;
            case statement_kind::close_cursor:
                out_.effects.push_back({f.object_name.empty() ? session_effect::kind::close_all_cursors
                                                              : session_effect::kind::close_cursor,
                                        f.object_name, {}, false});
                if (f.object_name.empty()) pending_.portals.clear();
                else pending_.portals.erase(f.object_name);
                return std::nullopt;
            case statement_kind::discard:
                if (f.discard == parser::discard_kind::all) {
                    out_.effects.push_back({session_effect::kind::discard_all, {}, {}, false});
                    pending_.prepared.clear();
                    pending_.portals.clear();
                }
                return std::nullopt;
            case statement_kind::copy: return copy(f);
            case statement_kind::merge: return kind_refusal(f, ctx_, "MERGE");
            case statement_kind::other: return kind_refusal(f, ctx_, command_of(f));
        }
        return kind_refusal(f, ctx_, command_of(f));
    }

private:
    // Resolves and checks everything `f` reads and runs; `resolved`, if
    // given, receives the resolution.
    verdict references(const parser::statement_facts& f, resolution* resolved = nullptr) {
        resolution local;
        resolution& res = resolved ? *resolved : local;
        res = resolve(f, ctx_.cat, scope_.path);
        if (res.unresolved) {
            const auto& u = *res.unresolved;
            const int at = u.location >= 0 ? u.location : f.location;
            // A missing relation or column in the same words as a hidden one.
            if (u.what == problem::kind::relation) return hidden_relation(rule::unresolved, u.written, at, ctx_);
            if (u.what == problem::kind::column)
                return hidden_column(rule::unresolved, u.written, allowed_columns_hint(f, scope_), at, ctx_);
            return plain(rule::unresolved, "pgsieve: " + u.message,
                         "rule: every relation and column must resolve against the catalog",
                         "check the name; if the object was created moments ago, retry shortly (pgsieve re-reads "
                         "the catalog when a statement names something it lacks)",
                         at);
        }
        // Defence in depth: every relation the parser saw was resolved.
        for (const auto& r : f.relations) {
            const bool seen = std::any_of(res.relations.begin(), res.relations.end(),
                                          [&](const auto& u) { return u.location == r.location; }) ||
                              std::find(res.cte_references.begin(), res.cte_references.end(), r.location) !=
                                  res.cte_references.end();
            if (!seen)
                return plain(rule::unsupported,
                             fmt::format("pgsieve: relation \"{}\" appears where pgsieve does not analyse it", r.name),
                             "rule: anything the analysis does not fully understand is refused", "", r.location);
        }
        auto v = check_reads(f, res, scope_, out_);
        for (const auto& use : res.relations) {
            if (has_denied_columns(*use.relation, ctx_)) out_.redact_errors = true;
        }
        if (v) return v;
        // The statement the client runs, or the query of a PREPARE or DECLARE run
        // later (EXECUTE, FETCH): their results are masked. EXPLAIN's are not.
        const bool returns_rows =
            &f == top_ || ((top_->kind == statement_kind::prepare || top_->kind == statement_kind::declare_cursor) &&
                           top_->inner.size() == 1 && &f == &top_->inner[0]);
        if (auto mv = check_masks(f, res, scope_, returns_rows, out_)) return mv;
        if (auto fv = check_functions(f, scope_, out_)) return fv;
        if (auto tv = check_types(f, scope_)) return tv;
        if (auto ov = check_operators(f, res, scope_)) return ov;
        if (auto vv = check_value_types(f, res, scope_)) return vv;
        return discovery(f, res);
    }

    // Under catalog: introspection, what of the catalog this statement
    // reads is scoped to what the policy grants (discovery.hpp).
    verdict discovery(const parser::statement_facts& f, const resolution& res) {
        // Under catalog: none, name-printing conversions are refused with the types (types.cpp).
        if (ctx_.policy.catalog != config::catalog_access::introspection) {
            if (ctx_.cat.has_types()) return std::nullopt;
            for (const auto& t : f.types) {  // a catalog made by hand (unit tests): by name
                if (name_printing_type(t.name))
                    return plain(rule::catalog,
                                 fmt::format("pgsieve: converting to {} prints catalog object names, which policy "
                                             "\"{}\" does not show",
                                             t.name.back(), ctx_.policy.name),
                                 "rule: catalog: none (the policy grants no catalog introspection)",
                                 "compare OIDs without converting them, or use a policy with catalog: introspection",
                                 t.location);
            }
            return std::nullopt;
        }
        std::vector<resolved_relation> catalog;
        for (const auto& use : res.relations) {
            const auto& r = *use.relation;
            if (r.schema == "pg_catalog" || r.schema == "information_schema")
                catalog.push_back({use.location, r.schema, r.name});
        }
        return discovery_sites(f, catalog, ctx_, scope_.path, sites_);
    }

    verdict query(const parser::statement_facts& f) {
        if (!ctx_.policy.statements.contains(config::statement_kind::select)) return kind_refusal(f, ctx_, "select");
        if (f.select_into)
            return plain(rule::statement, "pgsieve: SELECT … INTO creates a table and is not allowed",
                         "rule: statements (SELECT INTO writes)", "remove INTO", start_of(f));
        if (f.locking_clause)
            return plain(rule::statement, "pgsieve: locking clauses (FOR UPDATE/SHARE) are not allowed",
                         "rule: statements (a locking clause takes row locks)", "remove the FOR UPDATE/SHARE clause",
                         start_of(f));
        if (f.data_modifying_cte)
            return plain(rule::statement, "pgsieve: WITH queries that INSERT, UPDATE or DELETE are not allowed",
                         "rule: statements (a data-modifying CTE writes)", "run the write on its own, if allowed",
                         start_of(f));
        return references(f);
    }

    verdict write(const parser::statement_facts& f, config::statement_kind kind, config::table_verb verb) {
        if (!ctx_.policy.statements.contains(kind)) return kind_refusal(f, ctx_, config::to_string(kind));
        if (f.data_modifying_cte)
            return plain(rule::statement, "pgsieve: WITH queries that INSERT, UPDATE or DELETE are not allowed",
                         "rule: statements (a data-modifying CTE writes)", "", start_of(f));
        resolution res;
        if (auto v = references(f, &res)) return v;
        if (!res.target) return plain(rule::relation, "pgsieve: the written relation is not known", "", "", start_of(f));
        const auto it = ctx_.policy.tables.find({res.target->schema, res.target->name});
        const std::string table = res.target->schema + "." + res.target->name;
        // INSERT … ON CONFLICT DO UPDATE updates too, and PostgreSQL asks for both privileges.
        std::vector<config::table_verb> needed{verb};
        if (f.on_conflict_update) needed.push_back(config::table_verb::update);
        for (const auto v : needed) {
            if (it != ctx_.policy.tables.end() && it->second.allow.contains(v)) continue;
            std::vector<std::string> writable;
            for (const auto& [name, grant] : ctx_.policy.tables) {
                if (grant.allow.contains(v)) writable.push_back(name.str());
            }
            return plain(rule::relation,
                         fmt::format("pgsieve: {}{} on table \"{}\" is not allowed by policy \"{}\"", config::to_string(v),
                                     v != verb ? " (for ON CONFLICT DO UPDATE)" : "", table, ctx_.policy.name),
                         fmt::format("rule: tables.{}.allow", table),
                         fmt::format("tables that allow {}: {}", config::to_string(v),
                                     writable.empty() ? "none" : join(writable)),
                         f.target_relation.location);
        }
        // Written columns must be columns the policy lets this client see.
        std::vector<std::string> written = f.written_columns;
        if (written.empty() && f.kind == statement_kind::insert) written = res.target->columns;
        for (const auto& c : written) {
            if (const auto m = ctx_.policy.masks.find(config::column_name{{res.target->schema, res.target->name}, c});
                m != ctx_.policy.masks.end())
                return plain(rule::column,
                             fmt::format("pgsieve: column \"{}\" of table \"{}\" is masked ({}) for policy \"{}\" and "
                                         "may not be written",
                                         c, table, config::to_string(m->second), ctx_.policy.name),
                             "rule: mask (a masked column is read only as is, and never written)",
                             "leave the column out", f.target_relation.location);
            const std::string why = column_rule(&it->second, *res.target, c, ctx_);
            if (!why.empty())
                return plain(rule::column,
                             fmt::format("pgsieve: column \"{}\" of table \"{}\" is not allowed by policy \"{}\"", c,
                                         table, ctx_.policy.name),
                             "rule: " + why, "list only allowed columns", f.target_relation.location);
        }
        // The missing-WHERE guardrail (write_guardrail.hpp).
        if ((f.kind == statement_kind::update || f.kind == statement_kind::delete_) && !it->second.unbounded_writes) {
            if (const auto why = unbounded_write(f, res)) {
                const std::string_view command = f.kind == statement_kind::update ? "UPDATE" : "DELETE";
                return plain(rule::guardrail,
                             fmt::format("pgsieve: this {} on table \"{}\" is refused because {}: it could change "
                                         "every row",
                                         command, table, *why),
                             fmt::format("rule: guardrails (an UPDATE or DELETE must limit its rows by a column of "
                                         "the table unless tables.{}.unbounded_writes is set)",
                                         table),
                             fmt::format("add a WHERE clause on a column of {} that selects the rows to change, e.g. "
                                         "WHERE id = …",
                                         table),
                             f.target_relation.location);
            }
        }
        if (it->second.max_rows_written > 0) {
            out_.max_rows_written = it->second.max_rows_written;
            out_.written_table = table;
        }
        if (const auto& a = ctx_.policy.approval) {
            const config::qualified_name name{res.target->schema, res.target->name};
            if (a->holds(verb, name) || (f.on_conflict_update && a->holds(config::table_verb::update, name))) {
                out_.needs_approval = true;
                out_.written_table = table;
            }
        }
        return std::nullopt;
    }

    verdict explain(const parser::statement_facts& f) {
        if (!ctx_.policy.statements.contains(config::statement_kind::explain)) return kind_refusal(f, ctx_, "explain");
        if (f.inner.size() != 1) return kind_refusal(f, ctx_, "explain");
        const auto& inner = f.inner[0];
        if (f.explain_analyze && inner.kind != statement_kind::select)
            return plain(rule::statement, "pgsieve: EXPLAIN ANALYZE runs the statement; only SELECT may be analysed",
                         "rule: explain (EXPLAIN ANALYZE of a write executes the write)", "use EXPLAIN without ANALYZE",
                         start_of(f));
        const auto sites_before = sites_.size();
        if (auto v = statement(inner)) return v;
        return check_explain_plan(f, inner, out_, sites_.size() != sites_before, ctx_);
    }

    verdict show(const parser::statement_facts& f) {
        if (builtins::readable_parameter(f.parameter)) return std::nullopt;
        if (f.parameter == "all") {
            // SHOW ALL prints every setting, secrets included (like pg_settings).
            return plain(rule::statement, "pgsieve: SHOW ALL is not allowed", "rule: SHOW ALL prints every server setting",
                         "SHOW one of the session parameters instead", start_of(f));
        }
        if (ctx_.policy.statements.contains(config::statement_kind::show)) return std::nullopt;
        return plain(rule::statement,
                     fmt::format("pgsieve: SHOW {} is not allowed by policy \"{}\"", f.parameter, ctx_.policy.name),
                     fmt::format("rule: statements [{}] (SHOW of other parameters needs show)", statements_of(ctx_.policy)),
                     "SHOW of the session parameters a client may set is always allowed", start_of(f));
    }

    verdict set(const parser::statement_facts& f) {
        const auto refuse = [&](std::string message) {
            return plain(rule::parameter, std::move(message), "rule: only safe session parameters may be SET",
                         std::string(settable_parameters_hint), start_of(f));
        };
        if (f.parameter.starts_with("pgsieve.")) return refuse(*parameter_refusal(f.parameter, "", ctx_.policy));
        if (!builtins::settable_parameter(f.parameter))
            return refuse(fmt::format("pgsieve: SET {} is not allowed", f.parameter));
        if (f.set_value_unknown || f.parameter_values.size() > 1)
            return refuse(fmt::format("pgsieve: SET {} with a value pgsieve cannot check is not allowed", f.parameter));
        const std::string value = f.parameter_values.empty() ? std::string() : f.parameter_values[0];
        if (auto why = parameter_refusal(f.parameter, value, ctx_.policy)) return refuse(*why);
        return std::nullopt;
    }

    verdict reset(const parser::statement_facts& f) {
        // RESET returns to the session's startup values, which pgsieve set:
        // the pinned search_path, the policy's timeouts, the client's attributes.
        if (f.parameter == "all" || f.parameter == "search_path" || builtins::settable_parameter(f.parameter))
            return std::nullopt;
        return plain(rule::parameter,
                     f.parameter.starts_with("pgsieve.") ? *parameter_refusal(f.parameter, "", ctx_.policy)
                                                          : fmt::format("pgsieve: RESET {} is not allowed", f.parameter),
                     "rule: only safe session parameters may be RESET", std::string(settable_parameters_hint),
                     start_of(f));
    }

    verdict transaction(const parser::statement_facts& f) {
        const auto k = f.transaction;
        if (k == transaction_kind::prepare || k == transaction_kind::commit_prepared ||
            k == transaction_kind::rollback_prepared)
            return plain(rule::statement, "pgsieve: two-phase commit is not allowed", "rule: statements", "", start_of(f));
        if ((k == transaction_kind::begin || k == transaction_kind::start) && f.read_write && !ctx_.policy.writes())
            return kind_refusal(f, ctx_, "READ WRITE transaction");
        return std::nullopt;
    }

    // PREPARE and DECLARE are decided as the statement they wrap.
    verdict prepare(const parser::statement_facts& f) {
        if (f.inner.size() != 1) return kind_refusal(f, ctx_, "PREPARE");
        if (auto v = check_types(f, scope_)) return v;  // binding a parameter converts it to its declared type
        if (auto v = statement(f.inner[0])) return v;
        out_.effects.push_back({session_effect::kind::prepare, f.object_name, f.inner[0].text, false});
        pending_.prepared[f.object_name] = std::make_shared<const decision>(out_);
        return std::nullopt;
    }

    verdict declare(const parser::statement_facts& f) {
        if (f.inner.size() != 1) return kind_refusal(f, ctx_, "DECLARE");
        if (f.inner[0].kind != statement_kind::select) return kind_refusal(f, ctx_, "DECLARE of a non-SELECT");
        if (auto v = statement(f.inner[0])) return v;
        out_.effects.push_back({session_effect::kind::declare_cursor, f.object_name, f.inner[0].text, f.cursor_with_hold});
        pending_.portals[f.object_name] = std::make_shared<const decision>(out_);
        return std::nullopt;
    }

    // EXECUTE / FETCH / MOVE run what the session holds under that name.
    verdict named(const parser::statement_facts& f, bool portal) {
        out_.session_dependent = true;
        const char* what = portal ? "cursor" : "prepared statement";
        auto& pending = portal ? pending_.portals : pending_.prepared;
        std::shared_ptr<const decision> held;
        if (const auto it = pending.find(f.object_name); it != pending.end()) held = it->second;
        else if (ctx_.names) held = portal ? ctx_.names->portal(f.object_name) : ctx_.names->prepared_statement(f.object_name);
        if (!held)
            return plain(rule::prepared,
                         fmt::format("pgsieve: {} \"{}\" does not exist in this session", what, f.object_name),
                         portal ? "rule: FETCH and MOVE run only cursors and portals this session opened through pgsieve"
                                : "rule: EXECUTE runs only statements this session prepared through pgsieve",
                         portal ? "DECLARE the cursor first" : "PREPARE it first", start_of(f));
        merge_unique(out_.tables, held->tables);
        merge_unique(out_.columns, held->columns);
        merge_unique(out_.functions, held->functions);
        out_.redact_errors = out_.redact_errors || held->redact_errors;
        // EXECUTE and FETCH return the held query's result: masked as its.
        out_.masked = held->masked;
        out_.result_columns = held->result_columns;
        // EXECUTE of a limited write is the write.
        if (held->max_rows_written > 0 || held->needs_approval) {
            out_.max_rows_written = held->max_rows_written;
            out_.needs_approval = held->needs_approval;
            out_.written_table = held->written_table;
        }
        if (!held->allowed) {
            std::string_view reason = held->message;
            if (reason.starts_with("pgsieve: ")) reason.remove_prefix(9);
            return plain(rule::prepared,
                         fmt::format("pgsieve: {} \"{}\" is no longer allowed: {}", what, f.object_name, reason),
                         held->detail.empty() ? std::string("rule: a named statement is decided again after a policy reload")
                                              : held->detail + " (decided again after a policy reload)",
                         held->hint, start_of(f));
        }
        return std::nullopt;
    }

    verdict execute(const parser::statement_facts& f) {
        if (auto v = named(f, false)) return v;
        return references(f);  // EXECUTE p(args): the arguments are expressions
    }

    verdict fetch(const parser::statement_facts& f) { return named(f, true); }

    verdict copy(const parser::statement_facts& f) {
        if (f.copy_from)
            return plain(rule::statement, "pgsieve: COPY … FROM is not allowed", "rule: statements (COPY FROM writes)",
                         "use INSERT if the policy allows it", start_of(f));
        if (f.copy_to_file)
            return plain(rule::statement, "pgsieve: COPY to a file or program is not allowed",
                         "rule: statements (COPY TO a file or PROGRAM runs on the server)", "use COPY … TO STDOUT",
                         start_of(f));
        if (!f.inner.empty()) return statement(f.inner[0]);
        // COPY t [(cols)] TO STDOUT reads those columns, like a SELECT.
        if (!ctx_.policy.statements.contains(config::statement_kind::select)) return kind_refusal(f, ctx_, "select");
        const auto res = resolve(f, ctx_.cat, scope_.path);
        if (res.unresolved) return plain(rule::unresolved, "pgsieve: " + res.unresolved->message, "", "", start_of(f));
        if (!res.target) return plain(rule::relation, "pgsieve: COPY of an unknown relation", "", "", start_of(f));
        resolution reads;
        reads.relations.push_back({res.target, f.target_relation.location,
                                   f.target_relation.schema.empty() ? f.target_relation.name
                                                                    : f.target_relation.schema + "." + f.target_relation.name});
        const auto& columns = f.written_columns.empty() ? res.target->columns : f.written_columns;
        for (const auto& c : columns) {
            if (std::find(res.target->columns.begin(), res.target->columns.end(), c) == res.target->columns.end())
                return plain(rule::unresolved, fmt::format("pgsieve: column \"{}\" does not exist", c), "", "",
                             f.target_relation.location);
            reads.reads.push_back({res.target, c, f.target_relation.location, parser::clause::target});
            if (const auto m = ctx_.policy.masks.find(config::column_name{{res.target->schema, res.target->name}, c});
                m != ctx_.policy.masks.end())
                return plain(rule::column,
                             fmt::format("pgsieve: column \"{}\" is masked ({}) for policy \"{}\" and may only be "
                                         "selected as is; COPY would send its values unmasked",
                                         res.target->schema + "." + res.target->name + "." + c,
                                         config::to_string(m->second), ctx_.policy.name),
                             "rule: mask (COPY of a masked column is refused)",
                             "SELECT the column instead, or COPY the other columns", f.target_relation.location);
        }
        if (has_denied_columns(*res.target, ctx_)) out_.redact_errors = true;
        if (auto v = check_reads(f, reads, scope_, out_)) return v;
        // COPY of a whole catalog relation cannot be scoped: only a query can.
        return discovery(f, reads);
    }

    const context& ctx_;
    check_scope scope_;
    decision& out_;
    const parser::statement_facts* top_ = nullptr;  // the statement the client runs (not an inner one)
    pending_names& pending_;
    std::vector<discovery_site>& sites_;
};

decision refused_whole(const context& ctx, rule r, std::string message, std::string detail, std::string hint,
                       int position) {
    decision out;
    out.policy_version = ctx.cfg.version;
    out.policy = ctx.policy.name;
    out.rule = r;
    out.message = std::move(message);
    out.detail = std::move(detail);
    out.hint = std::move(hint);
    out.position = position;
    if (ctx.policy.mode == config::policy_mode::monitor) out.would_block = true;
    else out.allowed = false;
    return out;
}

std::vector<std::string> row_scoped(const std::vector<std::string>& tables, const config::policy& policy) {
    std::vector<std::string> out;
    for (const auto& [name, grant] : policy.tables) {
        if (grant.rows && std::find(tables.begin(), tables.end(), name.str()) != tables.end()) out.push_back(name.str());
    }
    return out;
}

bool shape_independent(const std::vector<parser::statement_facts>& statements, const decision& d) {
    using parser::statement_kind;
    if (statements.size() != 1 || !d.allowed || d.would_block || d.session_dependent || !d.scoped.empty() ||
        !d.scoped_sql.empty() || d.needs_approval || !d.functions.empty() || !d.effects.empty())
        return false;
    const auto& f = statements[0];
    if (f.kind != statement_kind::select && f.kind != statement_kind::insert && f.kind != statement_kind::update &&
        f.kind != statement_kind::delete_)
        return false;
    if (!f.functions.empty() || !f.types.empty() || !f.unsupported.empty() || !f.inner.empty() || f.select_into)
        return false;
    // The system catalogs answer discovery, whose scoping reads the text.
    for (const auto& t : d.tables)
        if (t.starts_with("pg_catalog.") || t.starts_with("information_schema.")) return false;
    return true;
}

}  // namespace

decision decide(const std::vector<parser::statement_facts>& statements, std::string_view sql, const context& ctx) {
    decision out;
    out.policy_version = ctx.cfg.version;
    out.policy = ctx.policy.name;
    out.max_rows = ctx.policy.max_rows.value_or(0);
    out.max_result_bytes = ctx.policy.max_result_bytes.value_or(0);
    out.truncate = ctx.policy.on_exceed == config::on_exceed::truncate;
    const auto path = resolution_path(ctx.search_path, ctx.upstream_role);
    pending_names pending;
    std::vector<discovery_site> sites;
    for (const auto& f : statements) {
        // With several statements, each one's reads are kept apart, then merged.
        decision part;
        auto& into = statements.size() == 1 ? out : part;
        const auto effects_before = into.effects.size();
        auto v = decider(ctx, path, into, pending, sites).statement(f);
        if (!v && statements.size() > 1 && !part.masked.empty()) {
            // Each result would need its own masks: one statement at a time.
            v = refusal{rule::column,
                        fmt::format("pgsieve: a statement returning masked column \"{}\" must be sent on its own, not "
                                    "in a string of several",
                                    part.masked.front().column),
                        "rule: mask", "send each statement in a query of its own", f.location, {}};
        }
        if (!v && statements.size() > 1 && (part.max_rows_written > 0 || part.needs_approval)) {
            // Its row count is known only once it ran, in a transaction of its own.
            v = refusal{rule::guardrail,
                           fmt::format("pgsieve: a write to table \"{}\" ({}) must be sent as a statement of its "
                                       "own, not in a string of several",
                                       part.written_table,
                                       part.needs_approval ? std::string("held for approval")
                                                           : fmt::format("max_rows_written: {}", part.max_rows_written)),
                           part.needs_approval ? std::string("rule: approval")
                                               : fmt::format("rule: tables.{}.max_rows_written", part.written_table),
                           "send each statement in a query of its own", f.location, {}};
        }
        for (auto e = into.effects.begin() + static_cast<std::ptrdiff_t>(effects_before); e != into.effects.end(); ++e)
            e->statement = static_cast<std::size_t>(&f - statements.data());
        if (statements.size() > 1) {
            merge_unique(out.tables, part.tables);
            merge_unique(out.columns, part.columns);
            merge_unique(out.functions, part.functions);
            out.effects.insert(out.effects.end(), part.effects.begin(), part.effects.end());
            out.session_dependent = out.session_dependent || part.session_dependent;
            out.redact_errors = out.redact_errors || part.redact_errors;
            out.parts.push_back({f.text, std::move(part.tables), std::move(part.columns), {}});
        }
        if (!v) continue;
        out.rule = v->rule;
        out.message = std::move(v->message);
        out.detail = std::move(v->detail);
        out.hint = std::move(v->hint);
        out.internal_detail = std::move(v->internal_detail);
        out.position = v->location >= 0 ? parser::character_position(sql, v->location) : 0;
        if (statements.size() > 1)
            out.detail += fmt::format(" (statement {} of {}; none of them runs)", &f - statements.data() + 1,
                                      statements.size());
        if (ctx.policy.mode == config::policy_mode::monitor) out.would_block = true;
        else out.allowed = false;
        break;
    }
    if (ctx.policy.mode == config::policy_mode::monitor) {
        // Monitor mode relays what PostgreSQL sends byte for byte, errors and
        // long results included; the audit records what enforce would do.
        out.would_redact_errors = out.redact_errors;
        out.redact_errors = false;
        out.max_rows = 0;
        out.max_result_bytes = 0;
        out.max_rows_written = 0;
        out.needs_approval = false;
        out.would_mask = std::move(out.masked);  // relayed as sent; the audit says what enforce would mask
        out.masked.clear();
    }
    out.row_scoped = row_scoped(out.tables, ctx.policy);
    for (auto& part : out.parts) part.row_scoped = row_scoped(part.tables, ctx.policy);
    if (!sites.empty() && (out.allowed && !out.would_block)) {
        for (const auto& site : sites) {
            auto name = site.schema + "." + site.name;
            if (std::find(out.scoped.begin(), out.scoped.end(), name) == out.scoped.end()) out.scoped.push_back(name);
        }
        // Monitor mode relays the statement as sent, and records what enforce would scope.
        if (ctx.policy.mode == config::policy_mode::enforce) {
            // One SELECT, or the one a PREPARE or DECLARE wraps (decided again
            // on its own, it must scope to the same text): its visible sets
            // computed once, in CTEs in front of it.
            std::optional<std::size_t> start;
            if (statements.size() == 1) {
                const auto& f = statements[0];
                if (f.kind == statement_kind::select) start = static_cast<std::size_t>(f.location);
                if ((f.kind == statement_kind::prepare || f.kind == statement_kind::declare_cursor) &&
                    f.inner.size() == 1 && f.inner[0].kind == statement_kind::select)
                    start = static_cast<std::size_t>(f.inner[0].location);
            }
            auto text = scoped_text(sql, std::move(sites), ctx, start);
            if (!text) {
                auto& r = text.error();
                return refused_whole(ctx, r.rule, std::move(r.message), std::move(r.detail), std::move(r.hint),
                                     r.location >= 0 ? parser::character_position(sql, r.location) : 0);
            }
            out.scoped_sql = std::move(*text);
        }
    }
    out.shape_cacheable = shape_independent(statements, out);
    return out;
}

expected<std::vector<parser::statement_facts>, decision> parse_statements(std::string_view sql, const context& ctx) {
    if (sql.size() > ctx.cfg.listen.max_statement_bytes)
        return unexpected(refused_whole(ctx, rule::limit,
                                        fmt::format("pgsieve: the statement is {} bytes, more than "
                                                    "listen.max_statement_bytes={}",
                                                    sql.size(), ctx.cfg.listen.max_statement_bytes),
                                        "rule: listen.max_statement_bytes bounds what pgsieve analyses",
                                        "send a shorter statement, or raise listen.max_statement_bytes", 0));
    auto parsed = parser::parse(sql, {ctx.cfg.listen.max_statements_per_query});
    if (parsed) return std::move(*parsed);
    const auto& e = parsed.error();
    switch (e.type) {
        case parser::parse_error::kind::syntax:
            return unexpected(refused_whole(ctx, rule::syntax, "pgsieve: " + e.message,
                                            "rule: statements must parse with PostgreSQL's grammar", "", e.position));
        case parser::parse_error::kind::encoding:
            return unexpected(refused_whole(ctx, rule::syntax, "pgsieve: " + e.message,
                                            "rule: statement text must be valid UTF-8 without NUL bytes",
                                            "send the text in UTF-8", 0));
        case parser::parse_error::kind::limit:
            return unexpected(refused_whole(
                ctx, rule::limit, "pgsieve: " + e.message,
                "rule: the work pgsieve and PostgreSQL spend on one query string is bounded",
                "send fewer statements at a time, or remove the repeated operator characters", 0));
        case parser::parse_error::kind::too_deep:
            return unexpected(refused_whole(ctx, rule::limit, "pgsieve: " + e.message,
                                            "rule: expressions nested beyond pgsieve's limit are refused",
                                            "flatten the expression", 0));
        case parser::parse_error::kind::internal:
            break;
    }
    return unexpected(refused_whole(ctx, rule::unsupported, "pgsieve: " + e.message,
                                    "rule: anything the analysis does not fully understand is refused", "", 0));
}

bool uses_session_names(const std::vector<parser::statement_facts>& statements) {
    return std::any_of(statements.begin(), statements.end(), [](const parser::statement_facts& f) {
        return f.kind == statement_kind::execute || f.kind == statement_kind::fetch || uses_session_names(f.inner);
    });
}

std::optional<decision> refuse_parameter_types(const std::vector<std::uint32_t>& oids, const context& ctx) {
    if (std::all_of(oids.begin(), oids.end(), [](std::uint32_t o) { return o == 0; })) return std::nullopt;
    const auto path = resolution_path(ctx.search_path, ctx.upstream_role);
    const check_scope scope{ctx, path};
    auto v = check_parameter_types(oids, scope);
    if (!v) return std::nullopt;
    auto d = refused_whole(ctx, v->rule, std::move(v->message), std::move(v->detail), std::move(v->hint), 0);
    if (!d.allowed || d.would_block) return d;
    return std::nullopt;
}

decision decide(std::string_view sql, const context& ctx) {
    auto statements = parse_statements(sql, ctx);
    if (!statements) return std::move(statements.error());
    return decide(*statements, sql, ctx);
}

}  // namespace pgsieve::policy
