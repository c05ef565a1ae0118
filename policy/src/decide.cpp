// Statement kinds and the plumbing every session needs; references are
// checked in check_references.cpp.

#include "builtins.hpp"
#include "check_references.hpp"
#include "resolve.hpp"

#include <pgsieve/parser/parse.hpp>
#include <pgsieve/policy/decide.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::policy {

using namespace detail;
using parser::statement_kind;

namespace {

std::string_view kind_name(const parser::statement_facts& f) {
    switch (f.kind) {
        case statement_kind::select: return "select";
        case statement_kind::insert: return "insert";
        case statement_kind::update: return "update";
        case statement_kind::delete_: return "delete";
        case statement_kind::merge: return "merge";
        case statement_kind::explain: return "explain";
        case statement_kind::show: return "show";
        case statement_kind::set: return "set";
        case statement_kind::reset: return "reset";
        case statement_kind::transaction: return "transaction";
        case statement_kind::set_transaction: return "set transaction";
        case statement_kind::prepare: return "prepare";
        case statement_kind::execute: return "execute";
        case statement_kind::deallocate: return "deallocate";
        case statement_kind::declare_cursor: return "declare cursor";
        case statement_kind::fetch: return "fetch";
        case statement_kind::close_cursor: return "close cursor";
        case statement_kind::discard: return "discard";
        case statement_kind::copy: return "copy";
        case statement_kind::other: return "other";
    }
    return "other";
}

// The SQL command name of an "other" node, for messages: CreateStmt → CREATE.
std::string command_of(const parser::statement_facts& f) {
    std::string text = f.text;
    const auto start = text.find_first_not_of(" \t\r\n(");
    if (start == std::string::npos) return f.node;
    std::string word;
    for (std::size_t i = start; i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])); ++i)
        word += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
    return word.empty() ? f.node : word;
}

bool has_write_kind(const config::policy& p) {
    using k = config::statement_kind;
    return p.statements.contains(k::insert) || p.statements.contains(k::update) || p.statements.contains(k::delete_) ||
           p.statements.contains(k::merge);
}

// Where the statement's first keyword is, for a refusal of the whole statement.
int start_of(const parser::statement_facts& f) {
    const auto skip = f.text.find_first_not_of(" \t\r\n");
    return f.location + static_cast<int>(skip == std::string::npos ? 0 : skip);
}

refusal kind_refusal(const parser::statement_facts& f, const context& ctx, std::string_view what) {
    return refusal{"statement",
                   fmt::format("pgsieve: {} statements are not allowed by policy \"{}\"", what, ctx.policy.name),
                   fmt::format("rule: statements [{}]", statements_of(ctx.policy)),
                   fmt::format("allowed statements: {}", statements_of(ctx.policy)), start_of(f)};
}

refusal plain(std::string rule, std::string message, std::string detail, std::string hint, int location) {
    return refusal{std::move(rule), std::move(message), std::move(detail), std::move(hint), location};
}

class decider {
public:
    decider(const context& ctx, decision& out) : ctx_(ctx), out_(out) {}

    verdict statement(const parser::statement_facts& f) {
        out_.kinds.emplace_back(kind_name(f));
        // MERGE is not analysed yet; a policy without merge refuses it as a kind.
        if (f.kind == statement_kind::merge && !ctx_.policy.statements.contains(config::statement_kind::merge))
            return kind_refusal(f, ctx_, "MERGE");
        if (!f.unknown.empty()) {
            return plain("unsupported",
                         fmt::format("pgsieve: the statement uses {}, which pgsieve does not analyse", f.unknown.front()),
                         "rule: anything the analysis does not fully understand is refused",
                         "rewrite the query without it", start_of(f));
        }
        switch (f.kind) {
            case statement_kind::select: return query(f, config::statement_kind::select);
            case statement_kind::insert: return write(f, config::statement_kind::insert, config::table_verb::insert);
            case statement_kind::update: return write(f, config::statement_kind::update, config::table_verb::update);
            case statement_kind::delete_: return write(f, config::statement_kind::delete_, config::table_verb::delete_);
            case statement_kind::explain: return explain(f);
            case statement_kind::show: return show(f);
            case statement_kind::set: return set(f);
            case statement_kind::reset: return reset(f);
            case statement_kind::transaction: return transaction(f);
            case statement_kind::set_transaction:
                if (f.read_write && !has_write_kind(ctx_.policy)) return kind_refusal(f, ctx_, "READ WRITE transaction");
                return std::nullopt;
            case statement_kind::prepare:
            case statement_kind::declare_cursor: {
                // Decided as the statement they wrap; the session remembers the name.
                if (f.inner.size() != 1) return kind_refusal(f, ctx_, kind_name(f));
                if (f.kind == statement_kind::declare_cursor && f.inner[0].kind != statement_kind::select)
                    return kind_refusal(f, ctx_, "DECLARE of a non-SELECT");
                auto v = statement(f.inner[0]);
                if (!v) {
                    using k = session_effect::kind;
                    out_.effects.push_back({f.kind == statement_kind::prepare ? k::prepare : k::declare_cursor,
                                            f.object_name, f.text});
                }
                return v;
            }
            case statement_kind::execute:
                if (!ctx_.prepared_allowed || !ctx_.prepared_allowed(f.object_name))
                    return plain("prepared",
                                 fmt::format("pgsieve: prepared statement \"{}\" was not prepared in this session through "
                                             "pgsieve",
                                             f.object_name),
                                 "rule: EXECUTE runs only statements whose PREPARE was decided", "PREPARE it first",
                                 f.location);
                return references(f);
            case statement_kind::deallocate:
                out_.effects.push_back({f.object_name.empty() ? session_effect::kind::deallocate_all
                                                              : session_effect::kind::deallocate,
                                        f.object_name, {}});
                return std::nullopt;
            case statement_kind::close_cursor:
                out_.effects.push_back({f.object_name.empty() ? session_effect::kind::close_all_cursors
                                                              : session_effect::kind::close_cursor,
                                        f.object_name, {}});
                return std::nullopt;
            case statement_kind::discard:
                if (f.discard_kind == "all") out_.effects.push_back({session_effect::kind::discard_all, {}, {}});
                return std::nullopt;
            case statement_kind::fetch:
                // A cursor declared under an earlier policy is decided again.
                if (ctx_.cursor_allowed && !ctx_.cursor_allowed(f.object_name))
                    return plain("prepared",
                                 fmt::format("pgsieve: cursor \"{}\" is no longer allowed by policy \"{}\"",
                                             f.object_name, ctx_.policy.name),
                                 "rule: the cursor's query is decided again after a policy reload", "", start_of(f));
                return std::nullopt;
            case statement_kind::copy: return copy(f);
            case statement_kind::merge: return kind_refusal(f, ctx_, "MERGE");
            case statement_kind::other: return kind_refusal(f, ctx_, command_of(f));
        }
        return kind_refusal(f, ctx_, command_of(f));
    }

private:
    // Resolves and checks what `f` reads; `resolved`, if given, receives the resolution.
    verdict references(const parser::statement_facts& f, resolution* resolved = nullptr) {
        resolution local;
        resolution& res = resolved ? *resolved : local;
        res = resolve(f, ctx_.cat, ctx_.search_path);
        if (res.unresolved)
            return plain("unresolved", "pgsieve: " + res.unresolved->message,
                         "rule: every relation and column must resolve against the catalog",
                         "check the name; if the object was created moments ago, retry shortly (pgsieve re-reads "
                         "the catalog when a statement names something it lacks)",
                         res.unresolved->location >= 0 ? res.unresolved->location : f.location);
        // Defence in depth: every relation the parser saw was checked.
        for (const auto& r : f.relations) {
            const bool seen = std::any_of(res.relations.begin(), res.relations.end(),
                                          [&](const auto& u) { return u.location == r.location; }) ||
                              std::find(res.cte_references.begin(), res.cte_references.end(), r.location) !=
                                  res.cte_references.end();
            if (!seen)
                return plain("unsupported", fmt::format("pgsieve: relation \"{}\" appears where pgsieve does not analyse it", r.name),
                             "rule: anything the analysis does not fully understand is refused", "", r.location);
        }
        if (auto v = check_reads(res, ctx_, out_)) return v;
        if (auto v = check_functions(f, ctx_, out_)) return v;
        return check_operators(f, ctx_);
    }

    verdict query(const parser::statement_facts& f, config::statement_kind needed) {
        if (!ctx_.policy.statements.contains(needed)) return kind_refusal(f, ctx_, config::to_string(needed));
        if (f.select_into)
            return plain("statement", "pgsieve: SELECT … INTO creates a table and is not allowed",
                         "rule: statements (SELECT INTO writes)", "remove INTO", start_of(f));
        if (f.locking_clause)
            return plain("statement", "pgsieve: locking clauses (FOR UPDATE/SHARE) are not allowed",
                         "rule: statements (a locking clause takes row locks)", "remove the FOR UPDATE/SHARE clause",
                         start_of(f));
        if (f.data_modifying_cte)
            return plain("statement", "pgsieve: WITH queries that INSERT, UPDATE or DELETE are not allowed",
                         "rule: statements (a data-modifying CTE writes)", "run the write on its own, if allowed",
                         start_of(f));
        return references(f);
    }

    verdict write(const parser::statement_facts& f, config::statement_kind kind, config::table_verb verb) {
        if (!ctx_.policy.statements.contains(kind)) return kind_refusal(f, ctx_, config::to_string(kind));
        if (f.data_modifying_cte)
            return plain("statement", "pgsieve: WITH queries that INSERT, UPDATE or DELETE are not allowed",
                         "rule: statements (a data-modifying CTE writes)", "", start_of(f));
        resolution res;
        if (auto v = references(f, &res)) return v;
        if (!res.target) return plain("relation", "pgsieve: the written relation is not known", "", "", start_of(f));
        const auto it = ctx_.policy.tables.find({res.target->schema, res.target->name});
        const std::string table = res.target->schema + "." + res.target->name;
        if (it == ctx_.policy.tables.end() || !it->second.allow.contains(verb)) {
            std::vector<std::string> writable;
            for (const auto& [name, grant] : ctx_.policy.tables) {
                if (grant.allow.contains(verb)) writable.push_back(name.str());
            }
            return plain("relation",
                         fmt::format("pgsieve: {} into table \"{}\" is not allowed by policy \"{}\"",
                                     config::to_string(verb), table, ctx_.policy.name),
                         fmt::format("rule: tables.{}.allow", table),
                         fmt::format("tables that allow {}: {}", config::to_string(verb),
                                     writable.empty() ? "none" : join(writable)),
                         f.target_relation.location);
        }
        // Written columns must be columns the policy lets this client see.
        std::vector<std::string> written = f.written_columns;
        if (written.empty() && f.kind == statement_kind::insert) written = res.target->columns;
        for (const auto& c : written) {
            const std::string rule = column_rule(&it->second, *res.target, c, ctx_);
            if (!rule.empty())
                return plain("column",
                             fmt::format("pgsieve: column \"{}\" of table \"{}\" is not allowed by policy \"{}\"", c,
                                         table, ctx_.policy.name),
                             "rule: " + rule, "list only allowed columns", f.target_relation.location);
        }
        return std::nullopt;
    }

    verdict explain(const parser::statement_facts& f) {
        if (!ctx_.policy.statements.contains(config::statement_kind::explain)) return kind_refusal(f, ctx_, "explain");
        if (f.inner.size() != 1) return kind_refusal(f, ctx_, "explain");
        const auto& inner = f.inner[0];
        if (f.explain_analyze && inner.kind != statement_kind::select)
            return plain("statement", "pgsieve: EXPLAIN ANALYZE runs the statement; only SELECT may be analysed",
                         "rule: explain (EXPLAIN ANALYZE of a write executes the write)", "use EXPLAIN without ANALYZE",
                         start_of(f));
        return statement(inner);
    }

    verdict show(const parser::statement_facts& f) {
        if (builtins::safe_parameter(f.parameter) || f.parameter == "search_path" ||
            f.parameter == "transaction_isolation" || f.parameter == "transaction isolation level" ||
            f.parameter == "server_version" || f.parameter == "server_version_num" ||
            f.parameter == "standard_conforming_strings" || f.parameter == "default_transaction_read_only" ||
            f.parameter == "transaction_read_only" || f.parameter == "server_encoding" ||
            f.parameter == "max_identifier_length" || f.parameter == "integer_datetimes")
            return std::nullopt;
        if (ctx_.policy.statements.contains(config::statement_kind::show)) return std::nullopt;
        return plain("statement",
                     fmt::format("pgsieve: SHOW {} is not allowed by policy \"{}\"", f.parameter, ctx_.policy.name),
                     fmt::format("rule: statements [{}] (SHOW of other parameters needs show)", statements_of(ctx_.policy)),
                     "SHOW of the session parameters a client may set is always allowed", start_of(f));
    }

    verdict set(const parser::statement_facts& f) {
        const auto refuse = [&](std::string why) {
            return plain("parameter",
                         fmt::format("pgsieve: SET {} is not allowed{}", f.parameter, why),
                         "rule: only safe session parameters may be SET",
                         "allowed: application_name, client_encoding (UTF8), DateStyle, TimeZone, IntervalStyle, "
                         "extra_float_digits, statement_timeout and lock_timeout up to the policy's",
                         start_of(f));
        };
        if (!builtins::safe_parameter(f.parameter)) return refuse("");
        if (f.set_value_unknown) return refuse(" with a value pgsieve cannot check");
        if (f.parameter == "client_encoding") {
            std::string v;
            for (const char c : f.parameter_values.empty() ? std::string() : f.parameter_values[0])
                if (std::isalnum(static_cast<unsigned char>(c))) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (v != "utf8" && v != "unicode") return refuse(": the proxy reads statements as UTF8");
        }
        if ((f.parameter == "statement_timeout" || f.parameter == "lock_timeout") && ctx_.policy.statement_timeout) {
            const std::string value = f.parameter_values.empty() ? std::string() : f.parameter_values[0];
            std::int64_t ms = -1;
            // A bare number is milliseconds; a unit suffix is PostgreSQL's.
            std::size_t used = 0;
            try {
                ms = std::stoll(value, &used);
                std::string unit = value.substr(used);
                unit.erase(0, unit.find_first_not_of(' '));
                if (unit == "s") ms *= 1000;
                else if (unit == "min") ms *= 60000;
                else if (unit == "h") ms *= 3600000;
                else if (unit == "us") ms /= 1000;
                else if (!unit.empty() && unit != "ms") ms = -1;
            } catch (...) {
                ms = -1;
            }
            if (ms <= 0 || ms > ctx_.policy.statement_timeout->count())
                return refuse(fmt::format(": the policy's statement_timeout is {}ms", ctx_.policy.statement_timeout->count()));
        }
        return std::nullopt;
    }

    verdict reset(const parser::statement_facts& f) {
        // RESET returns to the session defaults, which pgsieve pinned at startup.
        if (f.parameter == "all" || f.parameter == "search_path" || builtins::safe_parameter(f.parameter))
            return std::nullopt;
        return plain("parameter", fmt::format("pgsieve: RESET {} is not allowed", f.parameter),
                     "rule: only safe session parameters may be RESET", "", start_of(f));
    }

    verdict transaction(const parser::statement_facts& f) {
        const auto& k = f.transaction_kind;
        if (k == "prepare" || k == "commit_prepared" || k == "rollback_prepared")
            return plain("statement", "pgsieve: two-phase commit is not allowed", "rule: statements", "", start_of(f));
        if ((k == "begin" || k == "start") && f.read_write && !has_write_kind(ctx_.policy))
            return kind_refusal(f, ctx_, "READ WRITE transaction");
        return std::nullopt;
    }

    verdict copy(const parser::statement_facts& f) {
        if (f.copy_from)
            return plain("statement", "pgsieve: COPY … FROM is not allowed", "rule: statements (COPY FROM writes)",
                         "use INSERT if the policy allows it", start_of(f));
        if (f.copy_to_file)
            return plain("statement", "pgsieve: COPY to a file or program is not allowed",
                         "rule: statements (COPY TO a file or PROGRAM runs on the server)", "use COPY … TO STDOUT",
                         start_of(f));
        if (!f.inner.empty()) return statement(f.inner[0]);
        // COPY t [(cols)] TO STDOUT reads those columns, like a SELECT.
        if (!ctx_.policy.statements.contains(config::statement_kind::select)) return kind_refusal(f, ctx_, "select");
        const auto res = resolve(f, ctx_.cat, ctx_.search_path);
        if (res.unresolved) return plain("unresolved", "pgsieve: " + res.unresolved->message, "", "", start_of(f));
        if (!res.target) return plain("relation", "pgsieve: COPY of an unknown relation", "", "", start_of(f));
        if (auto v = check_relation(*res.target, f.target_relation.location, ctx_)) return v;
        resolution reads;
        reads.relations.push_back({res.target, f.target_relation.location});
        const auto& columns = f.written_columns.empty() ? res.target->columns : f.written_columns;
        for (const auto& c : columns) reads.reads.push_back({res.target, c, f.target_relation.location, parser::clause::target});
        return check_reads(reads, ctx_, out_);
    }

    const context& ctx_;
    decision& out_;
};

void merge_unique(std::vector<std::string>& into, const std::vector<std::string>& from) {
    for (const auto& item : from) {
        if (std::find(into.begin(), into.end(), item) == into.end()) into.push_back(item);
    }
}

}  // namespace

decision decide(const std::vector<parser::statement_facts>& statements, std::string_view sql, const context& ctx) {
    decision out;
    out.policy_version = ctx.cfg.version;
    for (const auto& f : statements) {
        // With several statements, each one's reads are kept apart, then merged.
        decision part;
        auto v = decider(ctx, statements.size() == 1 ? out : part).statement(f);
        if (statements.size() > 1) {
            merge_unique(out.tables, part.tables);
            merge_unique(out.columns, part.columns);
            merge_unique(out.functions, part.functions);
            out.kinds.insert(out.kinds.end(), part.kinds.begin(), part.kinds.end());
            out.effects.insert(out.effects.end(), part.effects.begin(), part.effects.end());
            out.parts.push_back({f.text, std::move(part.tables), std::move(part.columns)});
        }
        if (!v) continue;
        out.rule = std::move(v->rule);
        out.message = std::move(v->message);
        out.detail = std::move(v->detail);
        out.hint = std::move(v->hint);
        out.position = v->location >= 0 ? parser::character_position(sql, v->location) : 0;
        if (statements.size() > 1)
            out.detail += fmt::format(" (statement {} of {}; none of them runs)",
                                      &f - statements.data() + 1, statements.size());
        if (ctx.policy.mode == config::policy_mode::monitor) out.would_block = true;
        else out.allowed = false;
        break;
    }
    return out;
}

decision decide(std::string_view sql, const context& ctx) {
    const auto parsed = parser::parse(sql);
    if (!parsed) {
        decision out;
        out.policy_version = ctx.cfg.version;
        out.rule = "syntax";
        out.message = "pgsieve: " + parsed.error().message;
        out.detail = "rule: statements must parse with PostgreSQL's grammar";
        out.position = parsed.error().position;
        if (ctx.policy.mode == config::policy_mode::monitor) out.would_block = true;
        else out.allowed = false;
        return out;
    }
    return decide(*parsed, sql, ctx);
}

}  // namespace pgsieve::policy
