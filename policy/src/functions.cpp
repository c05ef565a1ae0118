#include "functions.hpp"

namespace pgsieve::policy::detail {

std::vector<const function_info*> candidates(const catalog& cat, const parser::function_ref& fn,
                                             const std::vector<std::string>& path) {
    std::vector<const function_info*> out;
    if (fn.name.empty() || fn.name.size() > 2) return out;
    const std::string& name = fn.name.back();
    const int n = fn.star ? 0 : fn.arguments;
    const auto add = [&](const std::string& schema) {
        if (const auto* overloads = cat.functions(schema, name)) {
            for (const auto& o : *overloads) {
                if (o.accepts(n, fn.variadic)) out.push_back(&o);
            }
        }
    };
    if (fn.name.size() == 2) add(fn.name[0]);
    else for (const auto& schema : path) add(schema);
    return out;
}

std::optional<result_shape_of> result_shape(const catalog& cat, const parser::function_ref& fn,
                                            const std::vector<std::string>& path) {
    std::optional<result_shape_of> shape;
    for (const auto* f : candidates(cat, fn, path)) {
        result_shape_of s;
        s.columns = f->result_columns;
        s.record = !s.columns && f->result == type_key{"pg_catalog", "record"};
        if (shape && (shape->columns != s.columns || shape->record != s.record)) return std::nullopt;
        shape = std::move(s);
    }
    return shape;
}

}  // namespace pgsieve::policy::detail
