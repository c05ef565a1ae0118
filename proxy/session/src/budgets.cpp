#include <pgsieve/session/budgets.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::session {

namespace {

std::int64_t ms_since_epoch(sys_time t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t window_start(const config::budget& b, sys_time now) {
    const auto period = std::max<std::int64_t>(1, b.window.count());
    const auto at = ms_since_epoch(now);
    return at - at % period;
}

// 1000 statements, 100000 rows, 524288000 bytes, 10m of statement time.
std::string amount(const config::budget& b) {
    switch (b.kind) {
        case config::budget_kind::statements: return fmt::format("{} statements", b.limit);
        case config::budget_kind::rows: return fmt::format("{} rows", b.limit);
        case config::budget_kind::bytes: return fmt::format("{} bytes", b.limit);
        case config::budget_kind::statement_time: {
            const auto s = b.limit / 1'000'000;
            return s % 60 == 0 ? fmt::format("{}m of statement time", s / 60) : fmt::format("{}s of statement time", s);
        }
    }
    return "";
}

std::string window_name(const config::budget& b) {
    const auto ms = b.window.count();
    if (ms % 86'400'000 == 0) return ms == 86'400'000 ? "day" : fmt::format("{} days", ms / 86'400'000);
    if (ms % 3'600'000 == 0) return ms == 3'600'000 ? "hour" : fmt::format("{} hours", ms / 3'600'000);
    if (ms % 60'000 == 0) return ms == 60'000 ? "minute" : fmt::format("{} minutes", ms / 60'000);
    return fmt::format("{} seconds", ms / 1000);
}

}  // namespace

budget_ledger::account& budget_ledger::current(const std::string& client, const config::budget& b, sys_time now) {
    auto& a = accounts_[{client, b.kind}];
    const auto start = window_start(b, now);
    if (a.window_start != start) {
        a.window_start = start;
        a.used = 0;
    }
    a.limit = b.limit;
    return a;
}

std::string budget_ledger::words(const std::string& client, const config::budget& b, sys_time now) const {
    const auto reset = sys_time(std::chrono::milliseconds(window_start(b, now) + b.window.count()));
    // RFC 3339 to the second: the reset is on a window boundary.
    auto at = rfc3339(std::chrono::time_point_cast<std::chrono::seconds>(reset));
    if (const auto dot = at.find('.'); dot != std::string::npos) at = at.substr(0, dot) + "Z";
    return fmt::format("pgsieve: client \"{}\" used its {} per {}; the budget resets at {}", client, amount(b),
                       window_name(b), at);
}

std::optional<budget_ledger::exhausted> budget_ledger::check(const std::string& client,
                                                             const std::vector<config::budget>& budgets) {
    if (budgets.empty()) return std::nullopt;
    const auto now = clock();
    const std::lock_guard lock(mutex_);
    for (const auto& b : budgets) {
        auto& a = current(client, b, now);
        if (a.used < b.limit) continue;
        ++a.refusals;
        return exhausted{b, words(client, b, now)};
    }
    return std::nullopt;
}

budget_ledger::remaining budget_ledger::left(const std::string& client, const std::vector<config::budget>& budgets) {
    remaining out;
    if (budgets.empty()) return out;
    const auto now = clock();
    const std::lock_guard lock(mutex_);
    for (const auto& b : budgets) {
        if (b.kind != config::budget_kind::rows && b.kind != config::budget_kind::bytes) continue;
        const auto& a = current(client, b, now);
        const auto rest = a.used >= b.limit ? 0 : b.limit - a.used;
        (b.kind == config::budget_kind::rows ? out.rows : out.bytes) = rest;
    }
    return out;
}

void budget_ledger::charge(const std::string& client, const std::vector<config::budget>& budgets,
                           config::budget_kind kind, std::uint64_t amount) {
    if (amount == 0) return;
    const auto b = std::find_if(budgets.begin(), budgets.end(), [kind](const auto& x) { return x.kind == kind; });
    if (b == budgets.end()) return;
    const auto now = clock();
    const std::lock_guard lock(mutex_);
    auto& a = current(client, *b, now);
    a.used = amount > UINT64_MAX - a.used ? UINT64_MAX : a.used + amount;
}

void budget_ledger::charge_result(const std::string& client, const std::vector<config::budget>& budgets,
                                  std::uint64_t rows, std::uint64_t bytes, std::uint64_t microseconds) {
    const auto now = clock();
    const std::lock_guard lock(mutex_);
    for (const auto& b : budgets) {
        const std::uint64_t amount = b.kind == config::budget_kind::rows             ? rows
                                     : b.kind == config::budget_kind::bytes          ? bytes
                                     : b.kind == config::budget_kind::statement_time ? microseconds
                                                                                     : 0;
        if (amount == 0) continue;
        auto& a = current(client, b, now);
        a.used = amount > UINT64_MAX - a.used ? UINT64_MAX : a.used + amount;
    }
}

std::string budget_ledger::cut_message(const std::string& client, const std::vector<config::budget>& budgets,
                                       config::budget_kind kind) {
    const auto b = std::find_if(budgets.begin(), budgets.end(), [kind](const auto& x) { return x.kind == kind; });
    if (b == budgets.end()) return "pgsieve: the client's budget is used up";
    const auto now = clock();
    const std::lock_guard lock(mutex_);
    ++current(client, *b, now).refusals;
    return words(client, *b, now);
}

void budget_ledger::render(std::string& out) const {
    const std::lock_guard lock(mutex_);
    if (accounts_.empty()) return;
    const auto label = [](const key& k) {
        std::string client;
        for (const char c : k.first) {
            if (c == '\\' || c == '"') client += '\\';
            client += c;
        }
        return fmt::format("client=\"{}\",budget=\"{}\"", client, config::to_string(k.second));
    };
    out += "# HELP pgsieve_budget_used What each client used of each budget in its current window.\n"
           "# TYPE pgsieve_budget_used gauge\n";
    for (const auto& [k, a] : accounts_) out += fmt::format("pgsieve_budget_used{{{}}} {}\n", label(k), a.used);
    out += "# HELP pgsieve_budget_limit Each client's budget per window.\n# TYPE pgsieve_budget_limit gauge\n";
    for (const auto& [k, a] : accounts_) out += fmt::format("pgsieve_budget_limit{{{}}} {}\n", label(k), a.limit);
    out += "# HELP pgsieve_budget_refusals_total Statements refused or ended because a budget was used up.\n"
           "# TYPE pgsieve_budget_refusals_total counter\n";
    for (const auto& [k, a] : accounts_)
        out += fmt::format("pgsieve_budget_refusals_total{{{}}} {}\n", label(k), a.refusals);
}

}  // namespace pgsieve::session
