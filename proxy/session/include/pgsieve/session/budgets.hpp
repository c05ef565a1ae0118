#pragma once
// Budgets: how much each client identity may use per window — statements,
// rows and bytes returned, statement time — counted across all its
// sessions on this replica (a fleet of N replicas allows N times as much:
// each counts its own). Windows are fixed and aligned to the UTC epoch (a
// 1h budget resets on the hour), so the reset time a refusal names is the
// same for every session and every replica. Thread-safe: sessions on every
// worker charge the one ledger.

#include <pgsieve/common/time.hpp>
#include <pgsieve/config/config.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgsieve::session {

class budget_ledger {
public:
    std::function<sys_time()> clock = [] { return std::chrono::system_clock::now(); };

    // The first budget the client has used up in its current window (a
    // statement is then refused), with the refusal's words; nullopt when
    // none is used up. Counts the refusal.
    struct exhausted {
        config::budget budget;
        std::string message;  // pgsieve: client "cs_bot" used its 1000 statements per 1h; the budget resets at …
    };
    [[nodiscard]] std::optional<exhausted> check(const std::string& client, const std::vector<config::budget>& budgets);
    // What is left of the rows and bytes budgets in their windows
    // (UINT64_MAX: no such budget), for a result to be cut where they end.
    struct remaining {
        std::uint64_t rows = UINT64_MAX;
        std::uint64_t bytes = UINT64_MAX;
    };
    [[nodiscard]] remaining left(const std::string& client, const std::vector<config::budget>& budgets);
    // Counts use of a kind (statements run, rows and bytes sent, microseconds).
    void charge(const std::string& client, const std::vector<config::budget>& budgets, config::budget_kind kind,
                std::uint64_t amount);
    // What one finished statement used, counted at once.
    void charge_result(const std::string& client, const std::vector<config::budget>& budgets, std::uint64_t rows,
                       std::uint64_t bytes, std::uint64_t microseconds);
    // The words ending a result cut by a budget (the client has just used it up).
    std::string cut_message(const std::string& client, const std::vector<config::budget>& budgets,
                            config::budget_kind kind);

    // pgsieve_budget_used / _limit / _refusals_total by client and budget, for /metrics.
    void render(std::string& out) const;

private:
    struct account {
        std::int64_t window_start = 0;  // ms since the epoch
        std::uint64_t used = 0;
        std::uint64_t limit = 0;        // as last configured, for /metrics
        std::uint64_t refusals = 0;
    };
    using key = std::pair<std::string, config::budget_kind>;
    // The account of a budget in the window containing `now` (reset when a new window began).
    account& current(const std::string& client, const config::budget& b, sys_time now);
    std::string words(const std::string& client, const config::budget& b, sys_time now) const;

    mutable std::mutex mutex_;
    std::map<key, account> accounts_;
};

}  // namespace pgsieve::session
