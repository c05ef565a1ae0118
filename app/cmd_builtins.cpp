// pgsieve builtins [--class C]: PostgreSQL 15's built-in functions as pgsieve
// classifies them, one a line: oid, name(argument type oids), class, reason.
// What a policy's clients may call without listing it, and why not the rest.

#include "commands.hpp"

#include <pgsieve/policy/builtin_functions.hpp>

#include <fmt/format.h>

#include <iostream>

namespace pgsieve::cli {

namespace {
std::string_view class_name(policy::builtins::function_class c) {
    using fc = policy::builtins::function_class;
    switch (c) {
        case fc::allowed: return "allowed";
        case fc::guarded: return "guarded";
        case fc::setting: return "setting";
        case fc::refused: return "refused";
    }
    return "refused";
}
}  // namespace

int run_builtins(const builtins_options& options) {
    for (const auto& f : policy::builtins::pg15_functions()) {
        const auto c = policy::builtins::classify(f.oid);
        if (!options.only_class.empty() && class_name(c.what) != options.only_class) continue;
        std::cout << fmt::format("{}\t{}({})\t{}\t{}\n", f.oid, f.name, f.arguments, class_name(c.what), c.reason);
    }
    return std::cout ? exit_ok : exit_usage;
}

}  // namespace pgsieve::cli
