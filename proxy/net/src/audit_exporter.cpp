#include <pgsieve/net/audit_exporter.hpp>

#include "asio.hpp"
#include "http_client.hpp"

#include <pgsieve/audit/export.hpp>
#include <pgsieve/audit/records.hpp>
#include <pgsieve/common/log.hpp>
#include <pgsieve/common/utf8.hpp>
#include <pgsieve/net/catalog_loader.hpp>

#include <fmt/format.h>

#include <unistd.h>

#include <array>
#include <charconv>

namespace pgsieve::net {

namespace {

// A request holds at most this many rows and about this many bytes (an
// OpenTelemetry Collector refuses requests above 20 MiB by default; refused
// statements are recorded in full, up to listen.max_statement_bytes each).
constexpr std::size_t batch_rows = 2048;
constexpr std::size_t batch_bytes = 4 << 20;
constexpr auto idle_poll = std::chrono::milliseconds(500);
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto first_backoff = std::chrono::seconds(1);
constexpr auto max_backoff = std::chrono::seconds(30);

}  // namespace

std::string instance_id(const config::config& cfg) {
    if (!cfg.cluster.instance_id.empty()) return cfg.cluster.instance_id;
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) return "unknown";
    return host.data();
}

audit_exporter::audit_exporter(std::string audit_path, std::string destination, sender send, precheck check)
    : audit_path_(std::move(audit_path)),
      destination_(std::move(destination)),
      send_(std::move(send)),
      check_(std::move(check)) {}

std::string audit_exporter::name_of(const config::http_endpoint& to) { return "otlp " + to.endpoint; }

std::string audit_exporter::name_of(const config::upstream_settings& to) {
    return fmt::format("postgresql {}:{}/{}", to.host, to.port, to.database);
}

std::vector<std::string> audit_exporter::destinations(const config::audit_settings& audit) {
    std::vector<std::string> out;
    if (audit.otlp) out.push_back(name_of(*audit.otlp));
    if (audit.postgresql) out.push_back(name_of(*audit.postgresql));
    return out;
}

std::unique_ptr<audit_exporter> audit_exporter::otlp(std::string audit_path, const config::http_endpoint& to,
                                                     std::string instance_id) {
    return std::make_unique<audit_exporter>(
        std::move(audit_path), name_of(to),
        [client = std::make_shared<http_client>(to),
         instance_id](std::span<const audit::shipped_record> batch) -> expected<void, send_failure> {
            const auto status = client->post(audit::encode_otlp_logs(batch, instance_id), request_timeout);
            if (!status) return unexpected(send_failure{status.error()});
            if (*status == 413)
                return unexpected(send_failure{"HTTP status 413 (request too large)", send_failure::kind::too_large});
            // OTLP/HTTP: 400 is not retryable — the receiver will never take this request.
            if (*status == 400)
                return unexpected(send_failure{"HTTP status 400 (bad request)", send_failure::kind::refused});
            if (*status < 200 || *status > 299) return unexpected(send_failure{fmt::format("HTTP status {}", *status)});
            return {};
        });
}

std::unique_ptr<audit_exporter> audit_exporter::central_store(std::string audit_path,
                                                              const config::upstream_settings& to,
                                                              std::string instance_id) {
    // One session, kept: a login per batch (SCRAM, TLS) cost more than the rows.
    auto store = std::make_shared<server_client>(to, to.user, to.password, "pgsieve audit export");
    return std::make_unique<audit_exporter>(
        std::move(audit_path), name_of(to),
        [store](std::span<const audit::shipped_record> batch) -> expected<void, send_failure> {
            // One statement: a batch is stored whole or not at all.
            const auto stored = store->query({audit::central_store_sql(batch)}, request_timeout);
            if (!stored) {
                // Data exceptions and integrity violations are about the rows;
                // anything else (a login, a permission, an outage) is retried.
                const auto& state = stored.error().sqlstate;
                const bool rows = state.starts_with("22") || state.starts_with("23");
                return unexpected(send_failure{stored.error().message,
                                               rows ? send_failure::kind::refused : send_failure::kind::unavailable});
            }
            return {};
        },
        [store, to, instance_id](audit::export_reader& reader) -> expected<void, std::string> {
            const auto newest = store->query({std::string(audit::central_store_newest_statement)}, request_timeout);
            if (!newest) return unexpected(newest.error().message);
            const auto& rows = (*newest)[0];
            if (rows.empty())
                return unexpected(fmt::format("role \"{}\" is not a writer of the central store: its owner registers "
                                              "it with pgsieve audit store-init --writer {}={}",
                                              to.user, to.user, instance_id));
            // The store binds each role to one instance: shipping under
            // another name would put this file in another replica's history.
            if (rows[0][0].value_or("") != instance_id)
                return unexpected(fmt::format("the central store binds role \"{}\" to instance \"{}\", and this "
                                              "replica is \"{}\" (cluster.instance_id): give each replica its own role",
                                              to.user, rows[0][0].value_or(""), instance_id));
            std::optional<std::pair<std::int64_t, std::string>> shipped;
            if (rows[0][1] && rows[0][2]) {
                std::int64_t id = 0;
                const auto& text = *rows[0][1];
                const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
                if (ec != std::errc() || end != text.data() + text.size())
                    return unexpected(fmt::format("the store's newest statement id \"{}\" is not a number", text));
                shipped.emplace(id, *rows[0][2]);
            }
            return reader.continues(shipped);
        });
}

audit_exporter::~audit_exporter() { stop(); }

void audit_exporter::start() { thread_ = std::thread([this] { run(); }); }

void audit_exporter::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool audit_exporter::wait(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, d, [this] { return stopping_; });
    return !stopping_;
}

// One batch of each table that has rows after its cursor: how many records
// were acknowledged, or why a request failed.
expected<std::size_t, std::string> audit_exporter::ship_once(audit::export_reader& reader) {
    std::size_t shipped = 0;
    std::uint64_t oldest = 0;
    for (const auto source : audit::export_sources) {
        auto rows = reader.next(source, batch_rows);
        if (!rows) return unexpected(rows.error());
        if (!rows->empty() && rows->front().time_unix_nano != 0 &&
            (oldest == 0 || rows->front().time_unix_nano < oldest)) {
            oldest = rows->front().time_unix_nano;
            stats_.oldest_waiting_unix_ns.store(oldest, std::memory_order_relaxed);
        }
        // Requests of at most batch_bytes; a destination that refuses one's
        // size or content gets halves, down to the one record it is about.
        std::vector<std::size_t> sizes;
        sizes.reserve(rows->size());
        for (const auto& r : *rows) sizes.push_back(audit::approximate_bytes(r));
        std::size_t most = rows->size();
        for (std::size_t begin = 0; begin < rows->size();) {
            std::size_t end = begin, bytes = 0;
            while (end < rows->size() && end - begin < most && (end == begin || bytes + sizes[end] <= batch_bytes))
                bytes += sizes[end++];
            const std::span<const audit::shipped_record> batch(rows->data() + begin, end - begin);
            if (auto sent = send_(batch); !sent) {
                if (sent.error().why == send_failure::kind::unavailable) return unexpected(sent.error().message);
                if (batch.size() > 1) {  // halves until the record it is about is alone
                    most = std::max<std::size_t>(1, batch.size() / 2);
                    continue;
                }
                // This destination will not take this record: it stays in the
                // file (and any other destination), an event says so — shipped
                // like any other — and the stream goes on.
                const auto& bad = batch.front();
                const auto table = std::string(audit::to_string(source));
                if (auto q = reader.quarantine(source, bad.id, sent.error().message); !q)
                    return unexpected("recording a quarantined record: " + q.error());
                stats_.quarantined.fetch_add(1, std::memory_order_relaxed);
                log::error("audit_export_quarantined", {{"destination", destination_}, {"table", table},
                                                        {"id", bad.id}, {"error", sent.error().message}});
                shipped += 1;  // the stream moved: not idle
                begin = end;
                most = rows->size();
                continue;
            }
            stats_.shipped.fetch_add(batch.size(), std::memory_order_relaxed);
            shipped += batch.size();
            // Shipped but not recorded: sent again next time (at least once).
            if (auto r = reader.advance(source, batch.back().id); !r)
                return unexpected("recording the export cursor: " + r.error());
            begin = end;
        }
    }
    if (shipped == 0) stats_.oldest_waiting_unix_ns.store(0, std::memory_order_relaxed);
    return shipped;
}

void audit_exporter::check_stalled(audit::export_reader* reader, std::chrono::steady_clock::time_point last_progress,
                                   const std::string& error) {
    const auto stuck = std::chrono::steady_clock::now() - last_progress;
    if (stats_.stalled.load() || stuck < stalled_after_) return;
    stats_.stalled.store(true);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(stuck).count();
    log::error("audit_export_stalled",
               {{"destination", destination_}, {"stalled_for_s", seconds}, {"error", error}});
    // In the file too, so the other destinations carry it off the machine.
    if (reader) {
        const auto detail = audit::detail_json(
            {{"destination", destination_}, {"stalled_for_s", std::to_string(seconds)}, {"error", valid_utf8(error)}});
        if (auto r = reader->record_event("audit_export_stalled", detail); !r)
            log::error("audit_export_stalled_unrecorded", {{"destination", destination_}, {"error", r.error()}});
    }
}

void audit_exporter::run() {
    std::unique_ptr<audit::export_reader> reader;
    auto backoff = std::chrono::milliseconds(first_backoff);
    std::string last_error;
    auto last_progress = std::chrono::steady_clock::now();  // shipped, or nothing waiting
    for (;;) {
        expected<std::size_t, std::string> shipped = std::size_t{0};
        if (!reader) {
            auto opened = audit::export_reader::open(audit_path_, destination_);
            if (opened) reader = std::move(*opened);
            else shipped = unexpected(opened.error());
        }
        // An exception here (a library's, on data it did not expect) is a
        // failed attempt, retried: it must not end the process.
        try {
            if (reader && check_) {
                if (auto allowed = check_(*reader); allowed) check_ = nullptr;  // once per run
                else shipped = unexpected(allowed.error());
            }
            if (reader && !check_) shipped = ship_once(*reader);
        } catch (const std::exception& e) {
            shipped = unexpected(fmt::format("unexpected error: {}", e.what()));
        }
        if (!shipped) {
            stats_.failures.fetch_add(1, std::memory_order_relaxed);
            if (shipped.error() != last_error)  // once per distinct failure, not once per retry
                log::warn("audit_export_failed", {{"destination", destination_}, {"error", shipped.error()},
                                                  {"retry_in_ms", backoff.count()}});
            last_error = shipped.error();
            check_stalled(reader.get(), last_progress, last_error);
            if (!wait(backoff)) return;  // stopping while the destination fails: the rest ships at the next start
            backoff = std::min(backoff * 2, std::chrono::milliseconds(max_backoff));
            continue;
        }
        if (!last_error.empty()) log::info("audit_export_resumed", {{"destination", destination_}});
        last_error.clear();
        last_progress = std::chrono::steady_clock::now();
        stats_.stalled.store(false);
        backoff = first_backoff;
        if (*shipped > 0) continue;
        if (!wait(idle_poll)) {
            // Stopping: what the sink's drain wrote last goes now, while the
            // destination answers.
            try {
                while (reader && !check_) {  // never past a failed precheck
                    auto last = ship_once(*reader);
                    if (!last || *last == 0) break;
                }
            } catch (const std::exception&) {
                // What is left ships at the next start.
            }
            return;
        }
    }
}

}  // namespace pgsieve::net
