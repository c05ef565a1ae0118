// The classification of PostgreSQL 15's pg_catalog functions. The table is
// PostgreSQL's own (generated); the rules are pgsieve's, applied to each
// function's name, argument and result types, kind and volatility, in order:
// the first that matches decides. Anything no rule allows is refused.

#include <pgsieve/policy/builtin_functions.hpp>
#include <pgsieve/policy/builtins.hpp>

#include "discovery.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace pgsieve::policy::builtins {

namespace {

constexpr pg_function table[] = {
#include "../pg15/functions.inc"
};

// Type OIDs (pg_type_d.h; tests/unit/builtins_test.cpp checks them).
constexpr std::uint32_t oid_type = 26;
constexpr std::uint32_t name_printing[] = {
    24, 2202, 2203, 2204, 2205, 2206, 4089, 4096, 4191, 3734, 3769,      // regproc … regdictionary
    1008, 2207, 2208, 2209, 2210, 2211, 4090, 4097, 4192, 3735, 3770,    // their arrays
    1033, 1034,                                                          // aclitem, aclitem[]: role names
};
constexpr std::uint32_t regconfig = 3734, regdictionary = 3769;
// Types no query needs to hand a function: a type's text I/O (cstring),
// internal support functions, triggers and handlers.
constexpr std::uint32_t internal_types[] = {2281, 2275, 2279, 3838, 2280, 3115, 325, 3310, 269};

// The type OIDs in a space-separated list.
std::vector<std::uint32_t> oids_in(std::string_view text) {
    std::vector<std::uint32_t> out;
    while (!text.empty()) {
        const auto start = text.find_first_not_of(" |");
        if (start == std::string_view::npos) break;
        text.remove_prefix(start);
        std::uint32_t oid = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), oid);
        if (ec != std::errc()) break;
        out.push_back(oid);
        text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    }
    return out;
}

// Every type a function takes or returns (OUT columns included).
std::vector<std::uint32_t> types_of(const pg_function& f) {
    auto out = oids_in(f.arguments);
    out.push_back(f.result);
    return out;
}

std::vector<std::uint32_t> in_arguments(const pg_function& f) {
    const std::string_view all(f.arguments);
    return oids_in(all.substr(0, all.find('|')));
}

bool contains(std::initializer_list<std::string_view> list, std::string_view name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}

// System information functions (pg_*) that name no object, reviewed one by one.
bool harmless_system_function(std::string_view name) {
    return contains({"pg_backend_pid", "pg_char_to_encoding", "pg_client_encoding", "pg_collation_for",
                     "pg_conf_load_time", "pg_encoding_max_length", "pg_encoding_to_char", "pg_listening_channels",
                     "pg_my_temp_schema", "pg_postmaster_start_time", "pg_size_bytes", "pg_size_pretty",
                     "pg_current_snapshot", "pg_snapshot_xip", "pg_snapshot_xmax", "pg_snapshot_xmin",
                     "pg_visible_in_snapshot", "pg_trigger_depth", "pg_jit_available", "pg_is_in_recovery",
                     "pg_notification_queue_usage", "pg_typeof"},
                    name) ||
           name.starts_with("pg_lsn");  // the pg_lsn type's operators
}

// Functions taking an OID that only compare or convert it.
bool oid_arithmetic(std::string_view name) {
    return contains({"oideq", "oidne", "oidlt", "oidle", "oidgt", "oidge", "oidlarger", "oidsmaller", "btoidcmp",
                     "hashoid", "hashoidextended", "int8", "max", "min", "oidsend", "nameconcatoid"},
                    name);
}

// Text search functions taking a configuration or dictionary by name.
bool text_search(std::string_view name) {
    return contains({"to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery",
                     "ts_headline", "json_to_tsvector", "jsonb_to_tsvector", "ts_lexize"},
                    name);
}

classification decide_class(const pg_function& f) {
    using c = function_class;
    const std::string_view name(f.name);
    const auto types = types_of(f);
    const auto has = [&](auto&& predicate) { return std::any_of(types.begin(), types.end(), predicate); };
    if (f.kind == 'p') return {c::refused, "procedures are not called from queries"};
    if (const auto why = denied_function(name); !why.empty()) return {c::refused, why};
    if (name == "current_setting") return {c::setting, {}};
    // Schema-discovery helpers: scoped under catalog: introspection (discovery.cpp).
    if (detail::discovery_function(name)) {
        if (detail::discovery_function_scoped(name)) return {c::guarded, {}};
        return {c::refused, "reaches objects in a way scoped discovery cannot limit to the policy's grant"};
    }
    if (has([](std::uint32_t t) { return std::find(std::begin(internal_types), std::end(internal_types), t) !=
                                          std::end(internal_types); }))
        return {c::refused, "a type's input/output or an internal support function"};
    if (name == "pg_typeof") return {c::allowed, {}};  // the type of a value the statement reads
    const bool names_types = has([&](std::uint32_t t) {
        return name_printing_type(t) && !((t == regconfig || t == regdictionary) && text_search(name));
    });
    if (names_types) return {c::refused, "prints or looks up catalog object names (a reg* or aclitem value)"};
    const auto in = in_arguments(f);
    if (std::find(in.begin(), in.end(), oid_type) != in.end() && !oid_arithmetic(name))
        return {c::refused, "reads a catalog object by its OID"};
    if (name.starts_with("pg_") && !harmless_system_function(name))
        return {c::refused, "a system information function pgsieve does not allow"};
    if (f.volatility == 'v' && !harmless_volatile(name))
        return {c::refused, "volatile built-in functions are refused unless known to be harmless"};
    return {c::allowed, {}};
}

}  // namespace

std::span<const pg_function> pg15_functions() { return table; }

const pg_function* pg15_function(std::uint32_t oid) {
    const auto it = std::lower_bound(std::begin(table), std::end(table), oid,
                                     [](const pg_function& f, std::uint32_t o) { return f.oid < o; });
    return it != std::end(table) && it->oid == oid ? &*it : nullptr;
}

bool name_printing_type(std::uint32_t type_oid) {
    return std::find(std::begin(name_printing), std::end(name_printing), type_oid) != std::end(name_printing);
}

classification classify(std::uint32_t oid) {
    static const auto classes = [] {
        std::unordered_map<std::uint32_t, classification> out;
        for (const auto& f : table) out.emplace(f.oid, decide_class(f));
        return out;
    }();
    const auto it = classes.find(oid);
    if (it == classes.end()) return {function_class::refused, "not a PostgreSQL 15 built-in pgsieve knows"};
    return it->second;
}

classification classify(std::string_view name) {
    std::optional<classification> strictest;
    for (const auto& f : table) {
        if (name != f.name) continue;
        const auto c = classify(f.oid);
        if (!strictest || static_cast<int>(c.what) > static_cast<int>(strictest->what)) strictest = c;
    }
    return strictest.value_or(classification{function_class::refused, "not a PostgreSQL 15 built-in pgsieve knows"});
}

}  // namespace pgsieve::policy::builtins
