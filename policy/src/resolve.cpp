#include "resolve.hpp"

#include "functions.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace pgsieve::policy::detail {

namespace {

using parser::column_ref;
using parser::range_entry;
using parser::statement_facts;

// A base relation's column that a visible column reads.
struct source {
    const relation_info* relation;
    std::size_t index;
};

// A column visible through a FROM entry: its name there, and the base
// columns reading it reads (none when it is computed by a query that is
// itself checked: a derived table, a CTE, a function).
struct visible_column {
    std::string name;
    std::vector<source> sources;
    origins from;  // where its values come from (resolve.hpp)
};

// A name visible in a query's FROM scope.
struct entry {
    std::string refname;
    const relation_info* base = nullptr;  // a real relation, for schema-qualified references
    bool columns_known = true;
    // Whether its columns can read base relations (a table, a join of them).
    // A derived table, CTE or function computes its columns in a query or
    // call that is checked on its own: nothing is read through it.
    bool carries_reads = false;
    std::vector<visible_column> columns;
    int range = -1;  // index into query::ranges; -1 for the statement's target and `excluded`
    int query = -1;  // the query whose FROM holds it
};

// PostgreSQL's system columns: every table has them, no * shows them.
bool system_column(const std::string& name) {
    return name == "ctid" || name == "xmin" || name == "xmax" || name == "cmin" || name == "cmax" || name == "tableoid";
}

std::vector<visible_column> named(const std::vector<std::string>& names) {
    std::vector<visible_column> out;
    out.reserve(names.size());
    for (const auto& n : names) out.push_back({n, {}, {}});
    return out;
}

// The output columns of query q, each coming from its position there.
std::vector<visible_column> outputs_of(int q, const std::vector<std::string>& names) {
    auto out = named(names);
    for (std::size_t i = 0; i < out.size(); ++i) {
        origin o;
        o.what = origin::kind::query_output;
        o.query = q;
        o.column = i;
        out[i].from.push_back(o);
    }
    return out;
}

origin plain_origin() {
    origin o;
    o.what = origin::kind::plain;
    return o;
}

origin base_origin(const relation_info* rel, std::size_t i) {
    origin o;
    o.what = origin::kind::base;
    o.relation = rel;
    o.column = i;
    return o;
}

void rename(std::vector<visible_column>& columns, const std::vector<std::string>& aliases) {
    for (std::size_t i = 0; i < aliases.size() && i < columns.size(); ++i) columns[i].name = aliases[i];
}

class resolver {
public:
    resolver(const statement_facts& f, const catalog& cat, const std::vector<std::string>& path)
        : f_(f), cat_(cat), path_(path) {
        for (int q = 0; q < static_cast<int>(f_.queries.size()); ++q) {
            const auto& ctes = f_.queries[q].ctes;
            for (int i = 0; i < static_cast<int>(ctes.size()); ++i) {
                if (ctes[i].query >= 0) cte_body_[ctes[i].query] = {q, i};
            }
        }
    }

    resolution run() {
        scopes_.resize(f_.queries.size());
        state_.assign(f_.queries.size(), built::no);
        if (!f_.target_relation.name.empty()) target_ = base_relation(f_.target_relation);
        out_.target = target_;
        for (int q = 0; q < static_cast<int>(f_.queries.size()) && !out_.unresolved; ++q) query(q);
        return std::move(out_);
    }

private:
    void fail(std::string message, int location, problem::kind what = problem::kind::other, std::string written = {}) {
        if (!out_.unresolved) out_.unresolved = problem{std::move(message), location, what, std::move(written)};
    }
    void missing_column(std::string written, int location) {
        fail(fmt::format("column \"{}\" does not exist or cannot be resolved", written), location, problem::kind::column,
             written);
    }

    const relation_info* base_relation(const parser::relation_ref& r) {
        const relation_info* rel =
            r.schema.empty() ? cat_.resolve_relation(r.name, path_) : cat_.relation(r.schema, r.name);
        const std::string written = r.schema.empty() ? r.name : r.schema + "." + r.name;
        if (!rel) {
            fail(fmt::format("relation \"{}\" does not exist or is not visible", written), r.location,
                 problem::kind::relation, written);
            return nullptr;
        }
        out_.relations.push_back({rel, r.location, written});
        return rel;
    }

    // The CTE a relation name in query `from` refers to, as PostgreSQL scopes them.
    const parser::cte* visible_cte(int from, const std::string& name) const {
        int child = -1;
        for (int q = from; q >= 0; child = q, q = f_.queries[q].parent) {
            const auto& p = f_.queries[q];
            // Coming up through the body of one of q's CTEs, a non-recursive
            // WITH shows only the CTEs before that one.
            int limit = static_cast<int>(p.ctes.size());
            if (child >= 0) {
                const auto it = cte_body_.find(child);
                if (it != cte_body_.end() && it->second.first == q && !p.recursive) limit = it->second.second;
            }
            for (int i = 0; i < limit; ++i) {
                if (p.ctes[i].name == name) return &p.ctes[i];
            }
        }
        return nullptr;
    }

    // Output column names of a query, when they can be known.
    std::optional<std::vector<std::string>> outputs(int q, int depth = 0) {
        if (q < 0 || depth > 32) return std::nullopt;
        const auto& p = f_.queries[q];
        if (p.set_left >= 0) return outputs(p.set_left, depth + 1);
        if (p.values_width >= 0) {
            std::vector<std::string> names;
            for (int i = 1; i <= p.values_width; ++i) names.push_back(fmt::format("column{}", i));
            return names;
        }
        if (state_[q] == built::building) return std::nullopt;  // a query whose FROM needs its own outputs
        std::vector<std::string> names;
        for (const auto& t : p.targets) {
            if (!t.star) {
                names.push_back(t.name);
                continue;
            }
            const auto expanded = star_columns(q, t.qualifier, -1, depth + 1);
            if (!expanded) return std::nullopt;
            for (const auto& c : *expanded) names.push_back(c.name);
        }
        return names;
    }

    // The columns a FROM function produces, as PostgreSQL names them.
    std::optional<std::vector<visible_column>> function_columns(int q, int r, const range_entry& range) {
        std::vector<visible_column> out;
        const bool single = range.functions.size() == 1;
        // Each column comes from function i's column j (-1: its scalar result).
        const auto from = [&](std::size_t i, int j) {
            origin o;
            o.what = origin::kind::function_column;
            o.query = q;
            o.range = r;
            o.function = static_cast<int>(i);
            o.function_column = j;
            return origins{o};
        };
        for (std::size_t i = 0; i < range.functions.size(); ++i) {
            const auto& fn = range.functions[i];
            const auto& defined = range.function_columns[i];
            if (!defined.empty()) {
                auto cols = named(defined);
                for (std::size_t j = 0; j < cols.size(); ++j) cols[j].from = from(i, static_cast<int>(j));
                out.insert(out.end(), cols.begin(), cols.end());
                continue;
            }
            // A scalar result is one column, named after the alias (one function) or the function.
            std::string scalar_name = single && !range.alias.empty() ? range.alias
                                      : fn.name.empty()              ? std::string("?column?")
                                                                     : fn.name.back();
            if (fn.name.empty()) {
                out.push_back({scalar_name, {}, from(i, -1)});
                continue;
            }
            const auto shape = result_shape(cat_, fn, path_);
            if (!shape) return std::nullopt;
            if (shape->columns) {
                auto cols = named(*shape->columns);
                for (std::size_t j = 0; j < cols.size(); ++j) cols[j].from = from(i, static_cast<int>(j));
                out.insert(out.end(), cols.begin(), cols.end());
            } else if (shape->record) {
                return std::nullopt;  // a record needs a column definition list
            } else {
                out.push_back({scalar_name, {}, from(i, -1)});
            }
        }
        if (range.ordinality) out.push_back({"ordinality", {}, {plain_origin()}});
        return out;
    }

    enum class built { no, building, yes };

    const std::vector<entry>& scope(int q) {
        if (state_[q] != built::no) return scopes_[q];
        state_[q] = built::building;
        std::vector<entry> entries;
        const auto& p = f_.queries[q];
        for (int r = 0; r < static_cast<int>(p.ranges.size()); ++r) {
            const auto& range = p.ranges[r];
            if (range.type == range_entry::kind::join) continue;  // below, once its sides exist
            entry e;
            e.range = r;
            e.query = q;
            switch (range.type) {
                case range_entry::kind::relation: {
                    const parser::cte* c = range.relation.schema.empty() ? visible_cte(q, range.relation.name) : nullptr;
                    e.refname = range.alias.empty() ? range.relation.name : range.alias;
                    if (c) {
                        out_.cte_references.push_back(range.relation.location);
                        auto names = c->query >= 0 ? outputs(c->query) : std::nullopt;
                        if (names) {
                            e.columns = outputs_of(c->query, *names);
                            rename(e.columns, c->column_aliases);
                        } else if (!c->column_aliases.empty()) {
                            e.columns = outputs_of(c->query, c->column_aliases);
                        } else {
                            e.columns_known = false;
                        }
                        // SEARCH/CYCLE columns: a counter, a flag, a path of the CTE's rows.
                        origin row;
                        row.what = origin::kind::query_row;
                        row.query = c->query;
                        for (const auto& added : c->added_columns) e.columns.push_back({added, {}, {row}});
                    } else {
                        e.carries_reads = true;
                        e.base = base_relation(range.relation);
                        if (!e.base) {
                            e.columns_known = false;
                            break;
                        }
                        for (std::size_t i = 0; i < e.base->columns.size(); ++i)
                            e.columns.push_back({e.base->columns[i], {source{e.base, i}}, {base_origin(e.base, i)}});
                    }
                    rename(e.columns, range.column_aliases);
                    break;
                }
                case range_entry::kind::subquery: {
                    e.refname = range.alias;
                    if (auto names = outputs(range.subquery)) e.columns = outputs_of(range.subquery, *names);
                    else e.columns_known = false;
                    rename(e.columns, range.column_aliases);
                    break;
                }
                case range_entry::kind::function: {
                    e.refname = !range.alias.empty()                                  ? range.alias
                                : range.functions.size() == 1 && !range.functions[0].name.empty() ? range.functions[0].name.back()
                                                                                      : std::string();
                    if (auto cols = function_columns(q, r, range)) e.columns = std::move(*cols);
                    else e.columns_known = false;
                    rename(e.columns, range.column_aliases);
                    break;
                }
                case range_entry::kind::join:
                    break;
            }
            entries.push_back(std::move(e));
        }
        scopes_[q] = std::move(entries);
        // Joins: an aliased join, or JOIN … USING (…) AS name, is a FROM entry of its own.
        for (int r = 0; r < static_cast<int>(p.ranges.size()); ++r) {
            const auto& range = p.ranges[r];
            if (range.type != range_entry::kind::join) continue;
            if (!range.alias.empty()) {
                entry e;
                e.refname = range.alias;
                e.range = r;
                e.carries_reads = true;
                auto cols = range_columns(q, r, 0);
                if (cols) e.columns = std::move(*cols);
                else e.columns_known = false;
                rename(e.columns, range.column_aliases);
                scopes_[q].push_back(std::move(e));
            }
            if (!range.using_alias.empty()) {
                entry e;
                e.refname = range.using_alias;
                e.range = r;
                e.carries_reads = true;
                auto merged = merged_columns(q, r);
                if (merged) e.columns = std::move(*merged);
                else e.columns_known = false;
                scopes_[q].push_back(std::move(e));
            }
        }
        // The statement's own target (UPDATE/DELETE/INSERT … RETURNING).
        if (q == f_.root && target_ && f_.kind != parser::statement_kind::copy) {
            entry e;
            e.refname = f_.target_alias.empty() ? f_.target_relation.name : f_.target_alias;
            e.base = target_;
            e.carries_reads = true;
            for (std::size_t i = 0; i < target_->columns.size(); ++i)
                e.columns.push_back({target_->columns[i], {source{target_, i}}, {base_origin(target_, i)}});
            scopes_[q].push_back(e);
            if (f_.kind == parser::statement_kind::insert) {
                entry excluded;  // ON CONFLICT … excluded.x: the row being inserted, not a read
                excluded.refname = "excluded";
                excluded.columns = named(target_->columns);
                for (std::size_t i = 0; i < excluded.columns.size(); ++i)
                    excluded.columns[i].from.push_back(base_origin(target_, i));
                scopes_[q].push_back(std::move(excluded));
            }
        }
        state_[q] = built::yes;
        return scopes_[q];
    }

    const entry* entry_of_range(int q, int r) const {
        for (const auto& e : scopes_[q]) {
            if (e.range == r && f_.queries[q].ranges[r].type != range_entry::kind::join) return &e;
        }
        return nullptr;
    }

    // The names a join merges: its USING list, or for NATURAL every name both sides have.
    std::optional<std::vector<std::string>> merge_names(int q, const range_entry& join, int depth) {
        if (!join.natural) return join.using_columns;
        const auto l = range_columns(q, join.left, depth + 1);
        const auto r = range_columns(q, join.right, depth + 1);
        if (!l || !r) return std::nullopt;
        std::vector<std::string> names;
        for (const auto& a : *l) {
            const bool both = std::any_of(r->begin(), r->end(), [&](const auto& b) { return b.name == a.name; });
            if (both && std::find(names.begin(), names.end(), a.name) == names.end()) names.push_back(a.name);
        }
        return names;
    }

    // The merged columns of a USING/NATURAL join: each reads both sides' columns.
    std::optional<std::vector<visible_column>> merged_columns(int q, int r, int depth = 0) {
        const auto& join = f_.queries[q].ranges[r];
        const auto names = merge_names(q, join, depth);
        const auto l = range_columns(q, join.left, depth + 1);
        const auto rr = range_columns(q, join.right, depth + 1);
        if (!names || !l || !rr) return std::nullopt;
        std::vector<visible_column> out;
        for (const auto& name : *names) {
            visible_column merged{name, {}, {}};
            for (const auto* side : {&*l, &*rr}) {
                bool found = false;
                for (const auto& c : *side) {
                    if (c.name != name) continue;
                    merged.sources.insert(merged.sources.end(), c.sources.begin(), c.sources.end());
                    merged.from.insert(merged.from.end(), c.from.begin(), c.from.end());
                    found = true;
                }
                if (!found) {
                    fail(fmt::format("column \"{}\" in USING does not exist on both sides", name), join.location);
                    return std::nullopt;
                }
            }
            out.push_back(std::move(merged));
        }
        return out;
    }

    // The columns a FROM item produces: a base or derived entry's, or a
    // join's (merged columns first, then the left's others, then the right's).
    std::optional<std::vector<visible_column>> range_columns(int q, int r, int depth) {
        if (r < 0 || depth > 64) return std::nullopt;
        const auto& range = f_.queries[q].ranges[r];
        if (range.type != range_entry::kind::join) {
            const entry* e = entry_of_range(q, r);
            if (!e || !e->columns_known) return std::nullopt;
            return e->columns;
        }
        const auto names = merge_names(q, range, depth);
        auto merged = merged_columns(q, r, depth);
        const auto l = range_columns(q, range.left, depth + 1);
        const auto rr = range_columns(q, range.right, depth + 1);
        if (!names || !merged || !l || !rr) return std::nullopt;
        auto out = std::move(*merged);
        for (const auto* side : {&*l, &*rr}) {
            for (const auto& c : *side) {
                if (std::find(names->begin(), names->end(), c.name) == names->end()) out.push_back(c);
            }
        }
        return out;
    }

    // What * or t.* expands to in query q.
    std::optional<std::vector<visible_column>> star_columns(int q, const std::vector<std::string>& qualifier,
                                                           int location, int depth = 0) {
        if (depth > 32) return std::nullopt;
        const auto& s = scope(q);
        (void)s;
        if (qualifier.empty()) {
            std::vector<visible_column> out;
            for (const int top : f_.queries[q].from) {
                auto cols = range_columns(q, top, depth + 1);
                if (!cols) return std::nullopt;
                out.insert(out.end(), cols->begin(), cols->end());
            }
            return out;
        }
        const auto* e = find_entry(q, qualifier.back(), qualifier.size() > 1 ? qualifier[0] : std::string());
        if (!e) {
            fail(fmt::format("missing FROM-clause entry for \"{}\"", qualifier.back()), location);
            return std::nullopt;
        }
        if (!e->columns_known) return std::nullopt;
        return e->columns;
    }

    // An entry named `name` in q's scope or an enclosing one.
    const entry* find_entry(int q, const std::string& name, const std::string& schema) {
        for (int at = q; at >= 0; at = f_.queries[at].parent) {
            for (const auto& e : scope(at)) {
                if (e.refname != name) continue;
                if (!schema.empty() && (!e.base || e.base->schema != schema)) continue;
                return &e;
            }
        }
        return nullptr;
    }

    void read(const visible_column& c, const column_ref& ref) {
        for (const auto& s : c.sources)
            out_.reads.push_back({s.relation, s.relation->columns[s.index], ref.location, ref.where});
        auto& into = out_.column_origins[current_ref_];
        into.insert(into.end(), c.from.begin(), c.from.end());
    }

    // The reference being resolved yields a value of this origin.
    void yields(origin o) { out_.column_origins[current_ref_].push_back(o); }

    // What a FROM item whose columns are not known yields: what its query or calls compute.
    origins unknown_columns_of(const entry& e) {
        if (e.range < 0 || e.query < 0) return {origin{}};
        const auto& range = f_.queries[e.query].ranges[e.range];
        origin o;
        if (range.type == range_entry::kind::subquery) {
            o.what = origin::kind::query_row;
            o.query = range.subquery;
            return {o};
        }
        if (range.type == range_entry::kind::function) {
            origins out;
            for (std::size_t i = 0; i < range.functions.size(); ++i) {
                o.what = origin::kind::function_column;
                o.query = e.query;
                o.range = e.range;
                o.function = static_cast<int>(i);
                o.function_column = -1;
                out.push_back(o);
            }
            return out;
        }
        if (range.type == range_entry::kind::relation) {  // a CTE whose outputs are not known
            if (const auto* c = visible_cte(e.query, range.relation.name); c && c->query >= 0) {
                o.what = origin::kind::query_row;
                o.query = c->query;
                return {o};
            }
        }
        return {origin{}};
    }

    void yields_some_column_of(const entry& e) {
        for (const auto& o : unknown_columns_of(e)) yields(o);
    }

    void read_all(const std::vector<visible_column>& columns, const column_ref& ref) {
        for (const auto& c : columns) read(c, ref);
    }

    // Reads every column of `e` named `column`; false when none is.
    bool read_named(const entry& e, const std::string& column, const column_ref& ref) {
        bool found = false;
        for (const auto& c : e.columns) {
            if (c.name != column) continue;
            read(c, ref);
            found = true;
        }
        return found;
    }

    // Whether reading every column of FROM item r (or failing to know them) is safe.
    bool range_carries_reads(int q, int r) {
        const auto& range = f_.queries[q].ranges[r];
        if (range.type == range_entry::kind::join) return true;
        const entry* e = entry_of_range(q, r);
        return e && e->carries_reads;
    }

    // * and t.*: every column they expand to is read.
    void star_reads(int q, const column_ref& ref) {
        const auto& fields = ref.fields;
        auto& expanded = out_.star_columns[current_ref_];
        const auto expand = [&](const std::vector<visible_column>& cols) {
            read_all(cols, ref);
            for (const auto& c : cols) expanded.push_back(c.from);
        };
        if (fields.empty()) {
            scope(q);
            for (const int top : f_.queries[q].from) {
                if (auto cols = range_columns(q, top, 0)) expand(*cols);
                else if (range_carries_reads(q, top))
                    return fail("* over a join whose columns pgsieve cannot know", ref.location);
                else if (const entry* e = entry_of_range(q, top)) expanded.push_back(unknown_columns_of(*e));
                else expanded.push_back({origin{}});
            }
            return;
        }
        const auto* e = find_entry(q, fields.back(), fields.size() > 1 ? fields[0] : std::string());
        if (!e) return fail(fmt::format("missing FROM-clause entry for \"{}\"", fields.back()), ref.location);
        if (e->columns_known) expand(e->columns);
        else if (e->carries_reads) fail(fmt::format("{}.* whose columns pgsieve cannot know", fields.back()), ref.location);
        else expanded.push_back(unknown_columns_of(*e));
    }

    bool output_column(int q, const std::string& name) {
        const auto names = outputs(q);
        return names && std::find(names->begin(), names->end(), name) != names->end();
    }

    void column(int q, const column_ref& ref) {
        const auto& fields = ref.fields;
        const auto& p = f_.queries[q];
        if (p.set_left >= 0) {
            // ORDER BY of UNION/INTERSECT/EXCEPT: output columns only.
            if (fields.size() == 1 && !ref.star && output_column(q, fields[0])) return yields(output_origin(q, fields[0]));
            fail("a set operation's ORDER BY can name only its output columns", ref.location);
            return;
        }
        if (ref.star) {
            star_reads(q, ref);
            return;
        }
        if (fields.size() == 1) {
            const auto& name = fields[0];
            // ORDER BY x / DISTINCT ON (x): an output column of that name comes first.
            if (ref.bare_sort_key && (ref.where == parser::clause::order_by || ref.where == parser::clause::distinct) &&
                output_column(q, name))
                return yields(output_origin(q, name));
            // A FROM item whose columns are not known may hold the name, or
            // an outer query may: every known match outward is read (which can
            // only refuse more), and the name is taken as that item's when
            // nothing else matches.
            bool maybe_unknown = false;
            for (int at = q; at >= 0; at = f_.queries[at].parent) {
                bool found = false;
                for (const auto& e : scope(at)) {
                    if (!e.columns_known) {
                        if (e.carries_reads)
                            return fail(fmt::format("column \"{}\" may come from a join whose columns pgsieve cannot "
                                                    "know",
                                                    name),
                                        ref.location);
                        maybe_unknown = true;
                        continue;
                    }
                    // Every match is read: an ambiguous name is refused by
                    // PostgreSQL, and recording both can only refuse more.
                    if (read_named(e, name, ref)) found = true;
                }
                if (found) return;
            }
            if (maybe_unknown) {
                // The name is taken as that of the items whose columns are not known.
                for (int at = q; at >= 0; at = f_.queries[at].parent)
                    for (const auto& e : scope(at))
                        if (!e.columns_known && !e.carries_reads) yields_some_column_of(e);
                return;
            }
            // A system column (ctid, xmin…) of a table in scope.
            if (system_column(name)) {
                for (int at = q; at >= 0; at = f_.queries[at].parent) {
                    for (const auto& e : scope(at)) {
                        if (e.base) out_.reads.push_back({e.base, name, ref.location, ref.where});
                    }
                }
                return yields(plain_origin());
            }
            // GROUP BY x: an output column when no input column has the name.
            if (ref.bare_sort_key && ref.where == parser::clause::group_by && output_column(q, name))
                return yields(output_origin(q, name));
            // Not a column: a whole-row reference to a FROM entry (SELECT t FROM t).
            if (const auto* e = find_entry(q, name, {})) {
                out_.whole_rows.insert(current_ref_);
                if (e->columns_known) read_all(e->columns, ref);
                else if (e->carries_reads)
                    fail(fmt::format("the whole row of \"{}\", whose columns pgsieve cannot know", name), ref.location);
                else yields_some_column_of(*e);
                return;
            }
            missing_column(name, ref.location);
            return;
        }
        if (fields.size() == 2 || fields.size() == 3) {
            const std::string& table = fields[fields.size() - 2];
            const std::string schema = fields.size() == 3 ? fields[0] : std::string();
            const std::string& name = fields.back();
            if (const auto* e = find_entry(q, table, schema)) {
                if (!e->columns_known) {
                    // Nothing is read through a derived table, CTE or function.
                    if (e->carries_reads)
                        fail(fmt::format("column {}.{} of a join whose columns pgsieve cannot know", table, name),
                             ref.location);
                    else yields_some_column_of(*e);
                    return;
                }
                if (e->base && system_column(name)) {
                    out_.reads.push_back({e->base, name, ref.location, ref.where});
                    return yields(plain_origin());
                }
                // A column a derived table, CTE or function lacks is PostgreSQL's error to raise.
                if (!read_named(*e, name, ref) && e->carries_reads) missing_column(table + "." + name, ref.location);
                return;
            }
            // t.c where t is a (composite) column rather than a FROM entry:
            // c.addr.city, or addr.city. The column itself is read.
            column_ref as_column = ref;
            as_column.fields.assign(fields.begin(), fields.end() - 1);
            as_column.bare_sort_key = false;
            column(q, as_column);
            return;
        }
        std::string text;
        for (const auto& f : fields) text += (text.empty() ? "" : ".") + f;
        fail(fmt::format("cannot resolve \"{}\"", text), ref.location);
    }

    // Unaliased USING/NATURAL joins read their merged columns (they compare them).
    void join_columns(int q) {
        const auto& p = f_.queries[q];
        for (int r = 0; r < static_cast<int>(p.ranges.size()); ++r) {
            const auto& range = p.ranges[r];
            if (range.type != range_entry::kind::join || (!range.natural && range.using_columns.empty())) continue;
            const auto merged = merged_columns(q, r);
            if (!merged) {
                fail("a USING or NATURAL join over a FROM item whose columns pgsieve cannot know", range.location);
                return;
            }
            column_ref ref;
            ref.where = parser::clause::join;
            ref.location = range.location;
            read_all(*merged, ref);
        }
    }

    void query(int q) {
        scope(q);
        current_ref_ = {q, -1};
        join_columns(q);
        const auto& refs = f_.queries[q].columns;
        for (int i = 0; i < static_cast<int>(refs.size()); ++i) {
            if (out_.unresolved) return;
            current_ref_ = {q, i};
            column(q, refs[i]);
        }
    }

    // Output column `name` of query q (the first of that name).
    origin output_origin(int q, const std::string& name) {
        origin o;
        o.what = origin::kind::query_output;
        o.query = q;
        if (const auto names = outputs(q)) {
            const auto it = std::find(names->begin(), names->end(), name);
            if (it != names->end()) o.column = static_cast<std::size_t>(it - names->begin());
        }
        return o;
    }

    const statement_facts& f_;
    const catalog& cat_;
    const std::vector<std::string>& path_;
    std::map<int, std::pair<int, int>> cte_body_;  // body query → (owner query, CTE index)
    std::vector<std::vector<entry>> scopes_;
    std::vector<built> state_;
    const relation_info* target_ = nullptr;
    resolution out_;
    std::pair<int, int> current_ref_{-1, -1};  // (query, column index) being resolved
};

}  // namespace

std::size_t output_width(const parser::statement_facts& f, const resolution& res, int q) {
    const auto& query = f.queries[q];
    if (query.set_left >= 0) return output_width(f, res, query.set_left);
    if (!query.values_rows.empty()) return query.values_rows.front().size();
    std::size_t n = 0;
    for (const auto& t : query.targets) n += target_width(f, res, q, t);
    return n;
}

std::size_t target_width(const parser::statement_facts& f, const resolution& res, int q, const parser::target& t) {
    if (!t.star) return 1;
    if (t.expr < 0) return 0;
    const auto it = res.star_columns.find({q, f.exprs[t.expr].ref});
    return it == res.star_columns.end() ? 0 : it->second.size();
}

resolution resolve(const parser::statement_facts& facts, const catalog& cat, const std::vector<std::string>& path) {
    return resolver(facts, cat, path).run();
}

}  // namespace pgsieve::policy::detail
