#include "resolve.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace pgsieve::policy::detail {

namespace {

using parser::column_ref;
using parser::range_entry;
using parser::statement_facts;

// A name visible in a query's FROM scope.
struct entry {
    std::string refname;
    const relation_info* base = nullptr;  // a real relation: reads are recorded against it
    bool columns_known = true;
    std::vector<std::string> names;       // visible column names
    std::vector<std::string> base_names;  // for base entries: the relation's column each name is
    int range = -1;
};

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
        built_.assign(f_.queries.size(), false);
        if (f_.target_relation.name.empty() == false) target_ = base_relation(f_.target_relation);
        out_.target = target_;
        for (int q = 0; q < static_cast<int>(f_.queries.size()) && !out_.unresolved; ++q) query(q);
        return std::move(out_);
    }

private:
    void fail(std::string message, int location) {
        if (!out_.unresolved) out_.unresolved = problem{std::move(message), location};
    }

    const relation_info* base_relation(const parser::relation_ref& r) {
        const relation_info* rel =
            r.schema.empty() ? cat_.resolve_relation(r.name, path_) : cat_.relation(r.schema, r.name);
        if (!rel) {
            fail(fmt::format("relation \"{}\" does not exist or is not visible",
                             r.schema.empty() ? r.name : r.schema + "." + r.name),
                 r.location);
            return nullptr;
        }
        out_.relations.push_back({rel, r.location});
        return rel;
    }

    // The CTE a relation name in query `from` refers to, as PostgreSQL scopes them.
    const parser::cte* visible_cte(int from, const std::string& name, int* owner) const {
        int child = -1;
        for (int q = from; q >= 0; child = q, q = f_.queries[q].parent) {
            const auto& p = f_.queries[q];
            // If we came up through the body of one of q's CTEs, a
            // non-recursive WITH shows only the CTEs before that one.
            int limit = static_cast<int>(p.ctes.size());
            if (child >= 0) {
                const auto it = cte_body_.find(child);
                if (it != cte_body_.end() && it->second.first == q && !p.recursive) limit = it->second.second;
            }
            for (int i = 0; i < limit; ++i) {
                if (p.ctes[i].name == name) {
                    *owner = q;
                    return &p.ctes[i];
                }
            }
        }
        return nullptr;
    }

    // Output column names of a query, when they can be known.
    std::optional<std::vector<std::string>> outputs(int q, int depth = 0) {
        if (q < 0 || depth > 64) return std::nullopt;
        const auto& p = f_.queries[q];
        if (p.set_left >= 0) return outputs(p.set_left, depth + 1);
        if (p.values_width >= 0) {
            std::vector<std::string> names;
            for (int i = 1; i <= p.values_width; ++i) names.push_back(fmt::format("column{}", i));
            return names;
        }
        const auto& s = scope(q);
        std::vector<std::string> names;
        for (const auto& t : p.targets) {
            if (!t.star) {
                names.push_back(t.name);
                continue;
            }
            for (const auto* e : star_entries(q, t.qualifier)) {
                if (!e->columns_known) return std::nullopt;
                names.insert(names.end(), e->names.begin(), e->names.end());
            }
        }
        (void)s;
        return names;
    }

    static void rename(entry& e, const std::vector<std::string>& aliases) {
        for (std::size_t i = 0; i < aliases.size() && i < e.names.size(); ++i) e.names[i] = aliases[i];
    }

    const std::vector<entry>& scope(int q) {
        if (built_[q]) return scopes_[q];
        built_[q] = true;  // before building: a recursive reference sees what is there so far
        std::vector<entry> entries;
        const auto& p = f_.queries[q];
        for (int r = 0; r < static_cast<int>(p.ranges.size()); ++r) {
            const auto& range = p.ranges[r];
            entry e;
            e.range = r;
            switch (range.type) {
                case range_entry::kind::relation: {
                    int owner = -1;
                    const parser::cte* c = range.relation.schema.empty()
                                               ? visible_cte(q, range.relation.name, &owner)
                                               : nullptr;
                    e.refname = range.alias.empty() ? range.relation.name : range.alias;
                    if (c) {
                        out_.cte_references.push_back(range.relation.location);
                        auto names = c->query >= 0 && c->query != q ? outputs(c->query) : std::nullopt;
                        if (names) {
                            e.names = std::move(*names);
                            rename(e, c->column_aliases);
                        } else if (!c->column_aliases.empty()) {
                            e.names = c->column_aliases;
                        } else {
                            e.columns_known = false;
                        }
                    } else {
                        e.base = base_relation(range.relation);
                        if (!e.base) {
                            e.columns_known = false;
                            break;
                        }
                        e.names = e.base->columns;
                        e.base_names = e.base->columns;
                    }
                    rename(e, range.column_aliases);
                    break;
                }
                case range_entry::kind::subquery: {
                    e.refname = range.alias;
                    auto names = outputs(range.subquery);
                    if (names) e.names = std::move(*names);
                    else e.columns_known = false;
                    rename(e, range.column_aliases);
                    break;
                }
                case range_entry::kind::function:
                    e.refname = range.alias.empty() && !range.functions.empty() && !range.functions[0].name.empty()
                                    ? range.functions[0].name.back()
                                    : range.alias;
                    if (!range.column_aliases.empty()) e.names = range.column_aliases;
                    else e.columns_known = false;  // a composite result's columns are not in the snapshot
                    break;
                case range_entry::kind::join:
                    if (range.alias.empty()) continue;  // its sides are visible by their own names
                    e.refname = range.alias;
                    e.columns_known = false;
                    break;
            }
            entries.push_back(std::move(e));
        }
        // The statement's own target (UPDATE/DELETE/INSERT … RETURNING).
        if (q == f_.root && target_ && f_.kind != parser::statement_kind::copy) {
            entry e;
            e.refname = f_.target_alias.empty() ? f_.target_relation.name : f_.target_alias;
            e.base = target_;
            e.names = target_->columns;
            e.base_names = target_->columns;
            entries.push_back(e);
            if (f_.kind == parser::statement_kind::insert) {
                entry excluded;  // ON CONFLICT … excluded.x: the row being inserted, not a read
                excluded.refname = "excluded";
                excluded.names = target_->columns;
                entries.push_back(std::move(excluded));
            }
        }
        scopes_[q] = std::move(entries);
        return scopes_[q];
    }

    std::vector<const entry*> star_entries(int q, const std::vector<std::string>& qualifier) {
        std::vector<const entry*> out;
        const auto& s = scope(q);
        if (qualifier.empty()) {
            // Entries reachable from the top-level FROM items, in order.
            std::vector<int> ranges;
            for (const int top : f_.queries[q].from) collect_ranges(q, top, ranges);
            for (const int r : ranges) {
                for (const auto& e : s) {
                    if (e.range == r) out.push_back(&e);
                }
            }
            return out;
        }
        if (const auto* e = find_entry(q, qualifier.back(), qualifier.size() > 1 ? qualifier[0] : std::string()))
            out.push_back(e);
        else
            fail(fmt::format("missing FROM-clause entry for \"{}\"", qualifier.back()), -1);
        return out;
    }

    void collect_ranges(int q, int r, std::vector<int>& out) const {
        if (r < 0) return;
        const auto& range = f_.queries[q].ranges[r];
        if (range.type == range_entry::kind::join) {
            collect_ranges(q, range.left, out);
            collect_ranges(q, range.right, out);
        } else {
            out.push_back(r);
        }
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

    void read(const entry& e, std::size_t index, const column_ref& ref) {
        if (!e.base || index >= e.base_names.size()) return;  // derived: its own query is checked
        out_.reads.push_back({e.base, e.base_names[index], ref.location, ref.where});
    }

    void read_all(const entry& e, const column_ref& ref) {
        for (std::size_t i = 0; i < e.base_names.size(); ++i) read(e, i, ref);
    }

    bool read_named(const entry& e, const std::string& column, const column_ref& ref) {
        if (!e.columns_known) return true;  // unknown columns: not a base relation
        bool found = false;
        for (std::size_t i = 0; i < e.names.size(); ++i) {
            if (e.names[i] == column) {
                read(e, i, ref);
                found = true;
            }
        }
        return found;
    }

    void column(int q, const column_ref& ref) {
        const auto& fields = ref.fields;
        if (ref.star) {
            for (const auto* e : star_entries(q, fields)) read_all(*e, ref);
            return;
        }
        if (fields.size() == 1) {
            const auto& name = fields[0];
            bool unknown_columns_in_scope = false;
            for (int at = q; at >= 0; at = f_.queries[at].parent) {
                bool found = false;
                for (const auto& e : scope(at)) {
                    if (!e.columns_known) {
                        unknown_columns_in_scope = true;
                        continue;
                    }
                    // Every match is read: an ambiguous name is refused by
                    // PostgreSQL, and recording both can only refuse more.
                    if (read_named(e, name, ref)) found = true;
                }
                if (found) return;
            }
            // ORDER BY, GROUP BY and DISTINCT ON may name an output column
            // (SELECT plan AS p … ORDER BY p): its sources were checked as targets.
            if (ref.where == parser::clause::order_by || ref.where == parser::clause::group_by ||
                ref.where == parser::clause::distinct) {
                const auto& targets = f_.queries[q].targets;
                if (std::any_of(targets.begin(), targets.end(), [&](const auto& t) { return !t.star && t.name == name; }))
                    return;
            }
            // Not a column: a whole-row reference to a FROM entry (SELECT t FROM t).
            if (const auto* e = find_entry(q, name, {})) {
                read_all(*e, ref);
                return;
            }
            if (unknown_columns_in_scope) return;  // a column of a function's result
            fail(fmt::format("column \"{}\" does not exist or cannot be resolved", name), ref.location);
            return;
        }
        if (fields.size() == 2 || fields.size() == 3) {
            const std::string& table = fields[fields.size() - 2];
            const std::string schema = fields.size() == 3 ? fields[0] : std::string();
            const std::string& name = fields.back();
            if (const auto* e = find_entry(q, table, schema)) {
                if (!read_named(*e, name, ref))
                    fail(fmt::format("column {}.{} does not exist", table, name), ref.location);
                return;
            }
            // t.c where t is a composite column, not a FROM entry (c.addr).city.
            if (fields.size() == 2) {
                column_ref as_column = ref;
                as_column.fields = {fields[0]};
                column(q, as_column);
                return;
            }
        }
        std::string text;
        for (const auto& f : fields) text += (text.empty() ? "" : ".") + f;
        fail(fmt::format("cannot resolve \"{}\"", text), ref.location);
    }

    void using_columns(int q) {
        const auto& p = f_.queries[q];
        for (const auto& range : p.ranges) {
            if (range.type != range_entry::kind::join) continue;
            std::vector<int> left, right;
            collect_ranges(q, range.left, left);
            collect_ranges(q, range.right, right);
            auto entries_of = [&](const std::vector<int>& ranges) {
                std::vector<const entry*> out;
                for (const auto& e : scope(q)) {
                    if (std::find(ranges.begin(), ranges.end(), e.range) != ranges.end()) out.push_back(&e);
                }
                return out;
            };
            const auto l = entries_of(left);
            const auto r = entries_of(right);
            std::vector<std::string> names = range.using_columns;
            if (range.natural) {
                // NATURAL joins on every name both sides share.
                for (const auto* a : l) {
                    for (const auto& n : a->names) {
                        for (const auto* b : r) {
                            if (std::find(b->names.begin(), b->names.end(), n) != b->names.end()) names.push_back(n);
                        }
                    }
                }
                const bool unknown = std::any_of(l.begin(), l.end(), [](auto* e) { return !e->columns_known; }) ||
                                     std::any_of(r.begin(), r.end(), [](auto* e) { return !e->columns_known; });
                if (unknown) fail("NATURAL JOIN over a relation whose columns are not known", -1);
            }
            column_ref ref;
            ref.where = parser::clause::join;
            for (const auto& n : names) {
                for (const auto* side : {&l, &r}) {
                    bool found = false;
                    for (const auto* e : *side) found = read_named(*e, n, ref) || found;
                    if (!found) fail(fmt::format("column \"{}\" in USING does not exist on both sides", n), -1);
                }
            }
        }
    }

    void query(int q) {
        scope(q);
        using_columns(q);
        for (const auto& ref : f_.queries[q].columns) column(q, ref);
        // A SELECT * / t.* whose FROM entries are listed as targets.
        for (const auto& t : f_.queries[q].targets) {
            if (!t.star) continue;
            (void)t;  // stars are also ColumnRefs in `columns`: read there
        }
    }

    const statement_facts& f_;
    const catalog& cat_;
    const std::vector<std::string>& path_;
    std::map<int, std::pair<int, int>> cte_body_;  // body query → (owner query, CTE index)
    std::vector<std::vector<entry>> scopes_;
    std::vector<bool> built_;
    const relation_info* target_ = nullptr;
    resolution out_;
};

}  // namespace

resolution resolve(const parser::statement_facts& facts, const catalog& cat, const std::vector<std::string>& search_path) {
    return resolver(facts, cat, search_path).run();
}

}  // namespace pgsieve::policy::detail
