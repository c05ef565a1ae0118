#include <pgsieve/policy/builtins.hpp>
#include <pgsieve/policy/parameters.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace pgsieve::policy {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view trim(std::string_view v) {
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return v;
}

}  // namespace

std::optional<std::int64_t> parameter_milliseconds(std::string_view value) {
    value = trim(value);
    double amount = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), amount);
    if (ec != std::errc{} || end == value.data() || !std::isfinite(amount) || amount < 0) return std::nullopt;
    const std::string unit = lower(trim(std::string_view(end, value.data() + value.size() - end)));
    double ms = 0;
    // GUC_UNIT_MS units (guc.c's memory and time unit tables).
    if (unit.empty() || unit == "ms") ms = amount;
    else if (unit == "us") ms = amount / 1000;
    else if (unit == "s") ms = amount * 1000;
    else if (unit == "min") ms = amount * 60'000;
    else if (unit == "h") ms = amount * 3'600'000;
    else if (unit == "d") ms = amount * 86'400'000;
    else return std::nullopt;
    if (ms > 2147483647.0) return std::nullopt;  // PostgreSQL's limit for these settings (INT_MAX ms)
    return static_cast<std::int64_t>(std::llround(ms));
}

std::optional<std::string> parameter_refusal(std::string_view name_in, std::string_view value,
                                             const config::policy& policy) {
    const std::string name = lower(name_in);
    if (name.starts_with("pgsieve."))
        return fmt::format("pgsieve: parameter \"{}\" carries this client's attributes and cannot be changed", name_in);
    if (!builtins::settable_parameter(name))
        return fmt::format("pgsieve: parameter \"{}\" is not allowed", name_in);
    if (name == "client_encoding") {
        // The proxy reads statement text as UTF-8; another encoding could
        // hide a quote inside a multibyte character. Names compare as
        // PostgreSQL's clean_encoding_name does ('utf-8' is UTF8, as asyncpg sends it).
        std::string v;
        for (const char c : value) {
            if (std::isalnum(static_cast<unsigned char>(c))) v += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (v != "utf8" && v != "unicode")
            return fmt::format("pgsieve: client_encoding \"{}\" is not allowed; use UTF8", value);
        return std::nullopt;
    }
    if (name == "statement_timeout" || name == "lock_timeout" || name == "idle_in_transaction_session_timeout") {
        const auto ms = parameter_milliseconds(value);
        if (!ms) return fmt::format("pgsieve: invalid value for {}: \"{}\"", name_in, value);
        if (name == "idle_in_transaction_session_timeout") {
            // Only a narrower session: 0 would switch the server's timeout off.
            if (*ms == 0) return fmt::format("pgsieve: {} = 0 would switch the timeout off", name_in);
            return std::nullopt;
        }
        if (policy.statement_timeout && (*ms == 0 || *ms > policy.statement_timeout->count()))
            return fmt::format("pgsieve: {} \"{}\" is above policy \"{}\"'s statement_timeout of {}ms", name_in, value,
                               policy.name, policy.statement_timeout->count());
    }
    return std::nullopt;
}

}  // namespace pgsieve::policy
