#include "admin.hpp"
#include "connection.hpp"
#include "peer_listener.hpp"
#include "approval_desk.hpp"
#include "policy_refresher.hpp"
#include "tls.hpp"

#include <pgsieve/common/log.hpp>
#include <pgsieve/net/audit_exporter.hpp>
#include <pgsieve/net/server.hpp>
#include <pgsieve/parser/parse.hpp>
#include <pgsieve/wire/random.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>

#include <list>
#include <stdexcept>
#include <thread>

namespace pgsieve::net {

namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// One thread: its own io_context, its own acceptor on the shared port
// (SO_REUSEPORT lets the kernel spread connections), its own connections.
struct worker {
    // Declared first so it outlives io: destroying io destroys the
    // connections still pending, and they unlink themselves from this list.
    std::list<connection*> live;
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    std::thread thread;
    // When this thread last ran its heartbeat timer (steady clock ticks):
    // a thread stuck in a handler stops beating, and /livez says so.
    std::atomic<std::chrono::steady_clock::rep> beat{std::chrono::steady_clock::now().time_since_epoch().count()};
};

constexpr auto heartbeat_interval = std::chrono::seconds(1);
constexpr auto stalled_after = std::chrono::seconds(10);

awaitable<void> heartbeat(worker& w) {
    asio::steady_timer timer(w.io);
    for (;;) {
        w.beat.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
        timer.expires_after(heartbeat_interval);
        auto [ec] = co_await timer.async_wait(use_tuple);
        if (ec) co_return;
    }
}

awaitable<void> accept_loop(worker& w, server_context& context) {
    for (;;) {
        auto [ec, socket] = co_await w.acceptor.async_accept(use_tuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !w.acceptor.is_open()) co_return;
            log::warn("accept_failed", {{"error", ec.message()}});
            continue;
        }
        context.connections.fetch_add(1, std::memory_order_relaxed);
        auto c = std::make_shared<connection>(std::move(socket), context, w.live);
        asio::co_spawn(w.io, c->run(), asio::detached);
    }
}

}  // namespace

struct server::impl {
    server_context context;
    server_options options;
    std::unique_ptr<policy_refresher> refresher;
    std::unique_ptr<approval_desk> approvals;  // decisions read back, webhooks told
    std::vector<std::unique_ptr<worker>> workers;
    // The admin endpoint, the peer port and cancel forwarding run on a
    // thread of their own: a worker held up (by a slow audit disk, say) must
    // not fail the health checks or stall a peer's cancel.
    asio::io_context control{1};
    std::thread control_thread;
    std::unique_ptr<peer_directory> directory;    // null without cluster.peers
    std::unique_ptr<peer_listener> peers;  // null without cluster.peer_listen
    std::unique_ptr<tcp::acceptor> admin;  // null without admin:
};

namespace {

// What /metrics, /healthz and /livez answer, from the state every session shares.
http_response admin_answer(server_context& ctx, const std::vector<std::unique_ptr<worker>>& workers,
                           const std::vector<const audit_exporter*>& exporters, std::string_view path) {
    const auto snapshot = ctx.shared.policies.current();
    const bool catalog_loaded = snapshot && snapshot->catalog;
    const bool audit_writable = !ctx.shared.audit || ctx.shared.audit->writable();
    if (path == "/metrics") {
        session::gauges g;
        g.connections = ctx.connections.load();
        g.catalog_loaded = catalog_loaded;
        g.audit_writable = audit_writable;
        if (ctx.shared.audit) {
            const auto stats = ctx.shared.audit->stats();
            g.audit_queued = stats.queued;
            g.audit_written = stats.written;
            g.audit_dropped = stats.dropped;
            g.audit_write_failures = stats.failed_writes;
        }
        const auto now = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        for (const auto* e : exporters) {
            const auto& st = e->stats();
            const auto oldest = st.oldest_waiting_unix_ns.load();
            g.exports.push_back({e->destination(), st.shipped.load(), st.failures.load(), st.quarantined.load(),
                                 oldest != 0 && now > oldest ? static_cast<double>(now - oldest) / 1e9 : 0.0,
                                 st.stalled.load()});
        }
        auto text = ctx.shared.metrics.render(g);
        ctx.shared.budgets.render(text);
        return {200, "text/plain; version=0.0.4; charset=utf-8", std::move(text)};
    }
    if (path == "/healthz") {
        // Unhealthy means statements are being refused for a reason an operator must fix.
        std::string problems;
        if (!catalog_loaded) problems += "the upstream catalog has not been read\n";
        if (!audit_writable && ctx.cfg->audit.failure == config::on_failure::block)
            problems += "the audit log cannot be written (audit.on_failure: block refuses statements)\n";
        if (!problems.empty()) return {503, "text/plain; charset=utf-8", problems};
        return {200, "text/plain; charset=utf-8", "ok\n"};
    }
    if (path == "/livez") {
        // Liveness, for an orchestrator's restart decision: the process runs
        // its threads. Refusing statements (no catalog, an audit outage) is
        // not a reason to restart it — /healthz says that, for readiness.
        const auto now = std::chrono::steady_clock::now().time_since_epoch();
        std::string stalled;
        for (std::size_t i = 0; i < workers.size(); ++i) {
            const std::chrono::steady_clock::duration beat(workers[i]->beat.load(std::memory_order_relaxed));
            if (now - beat > stalled_after)
                stalled += fmt::format("worker thread {} has not run for {} s\n", i,
                                       std::chrono::duration_cast<std::chrono::seconds>(now - beat).count());
        }
        if (!stalled.empty()) return {503, "text/plain; charset=utf-8", stalled};
        return {200, "text/plain; charset=utf-8", "alive\n"};
    }
    return {404, "text/plain; charset=utf-8", "not found: pgsieve serves /metrics, /healthz and /livez\n"};
}

}  // namespace

server::server(std::shared_ptr<const config::config> cfg, server_options options) : impl_(std::make_unique<impl>()) {
    auto& ctx = impl_->context;
    ctx.cfg = std::move(cfg);
    impl_->options = options;
    wire::random_bytes(ctx.shared.mock_secret);
    ctx.shared.policies.update(ctx.cfg, nullptr);
    ctx.shared.audit = options.audit;
    if (options.audit)
        options.audit->submit(audit::policy_version{ctx.cfg->version, std::chrono::system_clock::now(), ctx.cfg->source_text});
    impl_->refresher = std::make_unique<policy_refresher>(options.config_path, ctx.shared.policies, options.audit,
                                                          options.watch_config);
    ctx.shared.catalog_missing = [r = impl_->refresher.get()] { r->request_refresh(); };
    // Writes held for approval: with the central audit store, tickets,
    // decisions and uses are kept there for every replica; else in this
    // replica's audit file.
    const bool fleet = ctx.cfg->audit.postgresql.has_value();
    ctx.shared.approvals.set_fleet_wide(fleet);
    impl_->approvals = std::make_unique<approval_desk>(ctx.cfg->audit.sqlite, ctx.shared.approvals, options.audit,
                                                       /*read_file_decisions=*/!fleet);
    if (fleet)
        ctx.approval_store = std::make_unique<fleet_approvals>(*ctx.cfg->audit.postgresql, instance_id(*ctx.cfg),
                                                                ctx.shared.approvals, options.audit);
    ctx.shared.ticket_opened = [d = impl_->approvals.get(), f = ctx.approval_store.get()](
                                   const config::approval_rule* rule, const std::string& ticket, std::string detail) {
        if (f) f->publish(ticket, detail);
        if (rule) d->notify(*rule, std::move(detail));
    };
    if (ctx.cfg->listen.tls) ctx.client_tls = make_client_side_tls(*ctx.cfg->listen.tls);
    if (ctx.cfg->upstream.ssl != config::sslmode::disable) ctx.upstream_tls = make_upstream_tls(ctx.cfg->upstream);

    const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    // As many analysis threads as cores; their stacks fit the longest
    // statement the configuration admits (a reload that admits longer ones
    // makes the parser start a thread of its own for them).
    ctx.analysis = std::make_unique<analysis_pool>(std::max(1u, std::thread::hardware_concurrency()),
                                                   parser::stack_size_for(ctx.cfg->listen.max_statement_bytes) / 3 * 4);
    const auto& listen = ctx.cfg->listen;
    error_code ec;
    const auto address = asio::ip::make_address(listen.address, ec);
    if (ec) throw std::runtime_error(fmt::format("listen.address \"{}\": {}", listen.address, ec.message()));
    const tcp::endpoint endpoint(address, listen.port);
    for (int i = 0; i < threads; ++i) {
        auto w = std::make_unique<worker>();
        auto& a = w->acceptor;
        a.open(endpoint.protocol(), ec);
        if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) a.set_option(reuse_port(true), ec);
        if (!ec) a.bind(endpoint, ec);
        if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::runtime_error(fmt::format("cannot listen on {}:{}: {}", listen.address, listen.port, ec.message()));
        impl_->workers.push_back(std::move(w));
    }
    ctx.shared.cancels.set_tag(session::replica_tag(instance_id(*ctx.cfg)));
    impl_->directory = std::make_unique<peer_directory>(impl_->control.get_executor(), ctx.shared.policies);
    if (!ctx.cfg->cluster.peers.empty())
        ctx.forwarder = std::make_unique<cancel_forwarder>(impl_->control.get_executor(), *impl_->directory);
    if (const auto& p = ctx.cfg->cluster.peer_listen) {
        const auto peer_address = asio::ip::make_address(p->host, ec);
        if (ec) throw std::runtime_error(fmt::format("cluster.peer_listen \"{}\": {}", p->host, ec.message()));
        impl_->peers = std::make_unique<peer_listener>(impl_->control, tcp::endpoint(peer_address, p->port),
                                                       ctx.shared.cancels, *impl_->directory);
    }
    if (const auto& admin = ctx.cfg->admin) {
        const auto admin_address = asio::ip::make_address(admin->address, ec);
        if (ec) throw std::runtime_error(fmt::format("admin.address \"{}\": {}", admin->address, ec.message()));
        auto a = std::make_unique<tcp::acceptor>(impl_->control);
        const tcp::endpoint admin_endpoint(admin_address, admin->port);
        a->open(admin_endpoint.protocol(), ec);
        if (!ec) a->set_option(tcp::acceptor::reuse_address(true), ec);
        if (!ec) a->bind(admin_endpoint, ec);
        if (!ec) a->listen(asio::socket_base::max_listen_connections, ec);
        if (ec)
            throw std::runtime_error(
                fmt::format("cannot listen on admin {}:{}: {}", admin->address, admin->port, ec.message()));
        impl_->admin = std::move(a);
    }
}

server::~server() {
    // The pool's jobs post their results to the workers' io_contexts: it
    // stops (and drops what is queued) while they still exist.
    impl_->context.analysis.reset();
    impl_->control.stop();
    if (impl_->control_thread.joinable()) impl_->control_thread.join();
}

void server::run() {
    auto& ctx = impl_->context;
    auto& workers = impl_->workers;
    // Signals are handled on the first worker's thread. The handlers are
    // installed before the first catalog load, which can take seconds: a
    // SIGHUP then (a config tool, logrotate) would otherwise end the process
    // with the default action. What arrives before the waits below is queued.
    auto& main_io = workers.front()->io;
    asio::signal_set signals(main_io, SIGTERM, SIGINT);
    asio::signal_set hangup(main_io, SIGHUP);
    if (auto refused = impl_->refresher->start()) throw std::runtime_error(*refused);
    for (auto& w : workers) {
        asio::co_spawn(w->io, accept_loop(*w, ctx), asio::detached);
        asio::co_spawn(w->io, heartbeat(*w), asio::detached);
    }

    // The peer port, the peers' addresses and the admin endpoint run on the control thread.
    impl_->directory->start();
    if (impl_->peers) impl_->peers->start();
    if (impl_->admin)
        asio::co_spawn(impl_->control,
                       serve_admin(*impl_->admin,
                                   [&ctx, &workers, &exporters = impl_->options.exporters](std::string_view path) {
                                       return admin_answer(ctx, workers, exporters, path);
                                   }),
                       asio::detached);
    impl_->control_thread = std::thread([&control = impl_->control] { control.run(); });
    impl_->approvals->start();
    if (ctx.approval_store) ctx.approval_store->start();
    std::function<void(error_code, int)> on_hangup = [&](error_code ec, int) {
        if (ec) return;
        log::info("reload_requested", {{"file", impl_->options.config_path}});
        impl_->refresher->request_reload();
        hangup.async_wait(on_hangup);
    };
    hangup.async_wait(on_hangup);
    asio::steady_timer drain_timer(main_io);
    std::chrono::steady_clock::time_point deadline;
    bool terminated = false;

    auto stop_all = [&] {
        for (auto& w : workers) w->io.stop();
    };
    std::function<void(error_code)> check_drained = [&](error_code) {
        if (ctx.connections.load() == 0) return stop_all();
        if (!terminated && std::chrono::steady_clock::now() >= deadline) {
            // Grace is over: end the remaining sessions with a FATAL.
            terminated = true;
            log::warn("shutdown_terminating", {{"connections", ctx.connections.load()}});
            for (auto& w : workers) {
                asio::post(w->io, [&w = *w] {
                    for (auto* c : std::list<connection*>(w.live))
                        c->terminate(wire::sqlstate::admin_shutdown,
                                     "terminating connection due to administrator command");
                });
            }
            deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        } else if (terminated && std::chrono::steady_clock::now() >= deadline) {
            return stop_all();
        }
        drain_timer.expires_after(std::chrono::milliseconds(50));
        drain_timer.async_wait(check_drained);
    };
    signals.async_wait([&](error_code ec, int signo) {
        if (ec) return;
        hangup.cancel();
        if (impl_->admin) asio::post(impl_->control, [&a = *impl_->admin] {
            error_code ignored;
            a.close(ignored);
        });
        log::info("shutdown", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"},
                               {"connections", ctx.connections.load()},
                               {"grace_ms", impl_->options.shutdown_grace.count()}});
        for (auto& w : workers) {
            asio::post(w->io, [&w = *w] {
                error_code ignored;
                w.acceptor.close(ignored);
            });
        }
        deadline = std::chrono::steady_clock::now() + impl_->options.shutdown_grace;
        check_drained({});
    });

    const auto& l = ctx.cfg->listen;
    if (const auto& admin = ctx.cfg->admin)
        log::info("admin_listening", {{"address", fmt::format("{}:{}", admin->address, admin->port)},
                                      {"paths", "/metrics /healthz /livez"}});
    log::info("listening", {{"address", fmt::format("{}:{}", l.address, l.port)},
                            {"instance_id", instance_id(*ctx.cfg)},
                            {"cancel_peers", ctx.cfg->cluster.peers.size()},
                            {"peer_listen", ctx.cfg->cluster.peer_listen
                                                ? fmt::format("{}:{}", ctx.cfg->cluster.peer_listen->host,
                                                              ctx.cfg->cluster.peer_listen->port)
                                                : std::string("off")},
                            {"threads", workers.size()},
                            {"tls", l.tls ? config::to_string(l.tls->mode) : "off"},
                            {"upstream", fmt::format("{}:{}/{}", ctx.cfg->upstream.host, ctx.cfg->upstream.port,
                                                     ctx.cfg->upstream.database)}});
    for (std::size_t i = 1; i < workers.size(); ++i) workers[i]->thread = std::thread([&w = *workers[i]] { w.io.run(); });
    main_io.run();
    for (std::size_t i = 1; i < workers.size(); ++i) {
        if (workers[i]->thread.joinable()) workers[i]->thread.join();
    }
    impl_->control.stop();
    if (impl_->control_thread.joinable()) impl_->control_thread.join();
    impl_->refresher->stop();
    impl_->approvals->stop();
    if (ctx.approval_store) ctx.approval_store->stop();
    log::info("stopped");
}

}  // namespace pgsieve::net
