#include "stream.hpp"
#include "tls.hpp"

#include <pgsieve/net/catalog_loader.hpp>
#include <pgsieve/session/upstream_login.hpp>
#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>

#include <fmt/format.h>

namespace pgsieve::net {

namespace {

// One logged-in session to a PostgreSQL server, kept between calls.
struct loader {
    config::upstream_settings server;
    std::string application_name;
    session::upstream_login::identity who;
    std::unique_ptr<asio::ssl::context> tls;
    std::optional<stream> upstream;  // logged in, between calls
    std::string in, out;
    // Of the last call:
    std::string error;
    std::string sqlstate;  // of the ErrorResponse that failed a query
    std::vector<std::vector<policy::row>> results;
    bool complete = false;

    awaitable<bool> flush() {
        if (out.empty()) co_return true;
        const auto ec = co_await upstream->write_all(out);
        out.clear();
        if (ec) error = ec.message();
        co_return !ec;
    }

    awaitable<bool> read() {
        const auto ec = co_await upstream->read_some(in, 64 * 1024);
        if (ec) error = ec == asio::error::eof ? "the server closed the connection" : ec.message();
        co_return !ec;
    }

    awaitable<bool> login() {
        session::upstream_login l(server, who, {{"application_name", application_name}}, in, out);
        l.on_connected();
        for (;;) {
            switch (l.next()) {
                case session::upstream_login::step::write:
                    if (!co_await flush()) co_return false;
                    break;
                case session::upstream_login::step::read:
                    if (!co_await read()) co_return false;
                    break;
                case session::upstream_login::step::tls_handshake: {
                    const auto ec = co_await upstream->tls_connect(*tls, server.host,
                                                                   server.ssl == config::sslmode::verify_full);
                    l.on_tls(!ec, ec.message());
                    break;
                }
                case session::upstream_login::step::ready:
                    co_return true;
                case session::upstream_login::step::failed:
                    error = l.error();
                    co_return false;
            }
        }
    }

    // One simple Query; its DataRows as text.
    awaitable<bool> query(const std::string& sql, std::vector<policy::row>& rows) {
        wire::write_query(out, sql);
        if (!co_await flush()) co_return false;
        std::string failure;
        for (;;) {
            const auto r = wire::decode_frame(in, 1u << 30);
            if (r.status == wire::decode_status::error) {
                error = r.error;
                co_return false;
            }
            if (r.status == wire::decode_status::need_more) {
                if (!co_await read()) co_return false;
                continue;
            }
            const auto& f = r.message;
            if (f.type == wire::backend::data_row) {
                const auto values = wire::parse_data_row(f.body);
                if (!values) {
                    error = values.error();
                    co_return false;
                }
                policy::row row;
                for (const auto& v : *values) row.push_back(v ? std::optional<std::string>(std::string(*v)) : std::nullopt);
                rows.push_back(std::move(row));
            } else if (f.type == wire::backend::error_response) {
                const auto e = wire::parse_error_response(f.body);
                failure = e ? e->message : "unreadable ErrorResponse";
                if (e) sqlstate = e->sqlstate;
            } else if (f.type == wire::backend::ready_for_query) {
                in.erase(0, f.size);
                if (!failure.empty()) error = failure;
                co_return failure.empty();
            }
            in.erase(0, f.size);
        }
    }

    awaitable<bool> connect() {
        auto executor = co_await asio::this_coro::executor;
        tcp::resolver resolver(executor);
        auto [rec, endpoints] =
            co_await resolver.async_resolve(server.host, std::to_string(server.port), use_tuple);
        if (rec) {
            error = "cannot connect: " + rec.message();
            co_return false;
        }
        tcp::socket socket(executor);
        auto [cec, endpoint] = co_await asio::async_connect(socket, endpoints, use_tuple);
        if (cec) {
            error = "cannot connect: " + cec.message();
            co_return false;
        }
        upstream.emplace(std::move(socket));
        co_return co_await login();
    }

    // Logs in when there is no session yet; then each query in turn.
    awaitable<void> run(const std::vector<std::string>& queries) {
        error.clear();
        sqlstate.clear();
        results.clear();
        complete = false;
        if (!upstream) {
            in.clear();
            out.clear();
            if (!co_await connect()) co_return;
        }
        for (const auto& sql : queries) {
            results.emplace_back();
            if (!co_await query(sql, results.back())) co_return;
        }
        complete = true;
    }

    awaitable<void> terminate() {
        wire::write_terminate(out);
        co_await flush();
    }
};

}  // namespace

struct server_client::impl {
    // Declared before the loader, so it outlives the loader's socket: the
    // socket deregisters from the io_context's reactor when it is destroyed.
    // (Declared after it, the socket wrote into the freed reactor at every
    // catalog load: a heap-use-after-free that corrupted the heap.) Replaced
    // after work that would not unwind (a name lookup still running): the
    // old one is destroyed with that work, never resuming it.
    std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
    loader l;
    std::string where;
    std::string tls_error;  // the TLS settings could not be used: every call fails with it

    // Runs `work` for at most `timeout`; false if it did not finish (then
    // the session is closed and the work unwound or discarded).
    bool run_for(awaitable<void> work, std::chrono::milliseconds timeout) {
        bool finished = false;
        io->restart();
        asio::co_spawn(*io, std::move(work), [&](std::exception_ptr) { finished = true; });
        io->run_for(timeout);
        if (finished) return true;
        if (l.upstream) l.upstream->close();  // what waits on the socket ends, aborted
        io->restart();
        io->run_for(std::chrono::seconds(1));
        l.upstream.reset();
        if (!finished) io = std::make_unique<asio::io_context>(1);
        return false;
    }
};

server_client::server_client(config::upstream_settings server, std::string user, std::optional<std::string> password,
                             std::string application_name)
    : impl_(std::make_unique<impl>()) {
    impl_->where = fmt::format("server {}:{}", server.host, server.port);
    try {
        if (server.ssl != config::sslmode::disable) impl_->l.tls = make_upstream_tls(server);
    } catch (const std::exception& e) {
        impl_->tls_error = e.what();
    }
    impl_->l.server = std::move(server);
    impl_->l.application_name = std::move(application_name);
    impl_->l.who = {std::move(user), std::move(password)};
}

server_client::~server_client() {
    if (impl_->l.upstream) {
        impl_->run_for(impl_->l.terminate(), std::chrono::milliseconds(200));  // a polite goodbye, not awaited long
        impl_->l.upstream.reset();
    }
}

expected<std::vector<std::vector<policy::row>>, server_error> server_client::query(
    const std::vector<std::string>& queries, std::chrono::milliseconds timeout) {
    auto& l = impl_->l;
    if (!impl_->tls_error.empty()) return unexpected(server_error{fmt::format("{}: {}", impl_->where, impl_->tls_error), {}});
    if (!impl_->run_for(l.run(queries), timeout))
        return unexpected(server_error{fmt::format("{}: no answer within {} ms", impl_->where, timeout.count()), {}});
    if (!l.error.empty() || !l.complete) {
        // An error the server reported leaves the session usable (the
        // simple protocol ends the failed transaction); anything else ends it.
        if (l.sqlstate.empty() || !l.upstream) l.upstream.reset();
        return unexpected(server_error{fmt::format("{}: {}", impl_->where, l.error), l.sqlstate});
    }
    return std::move(l.results);
}

expected<std::vector<std::vector<policy::row>>, server_error> query_server(
    const config::upstream_settings& server, const std::string& user, const std::optional<std::string>& password,
    const std::vector<std::string>& queries, std::string_view application_name, std::chrono::milliseconds timeout) {
    server_client client(server, user, password, std::string(application_name));
    return client.query(queries, timeout);
}

expected<std::vector<std::vector<policy::row>>, std::string> query_upstream(
    const config::config& cfg, const std::string& user, const std::optional<std::string>& password,
    const std::vector<std::string>& queries, std::chrono::milliseconds timeout) {
    auto r = query_server(cfg.upstream, user, password, queries, "pgsieve catalog", timeout);
    if (!r) return unexpected("upstream " + r.error().message);
    return std::move(*r);
}

expected<policy::catalog_rows, std::string> load_catalog_rows(const config::config& cfg,
                                                             std::chrono::milliseconds timeout) {
    // The roles' own facts (the second wall) are read with the rest, so
    // every snapshot can be checked against the configuration.
    const auto roles = cfg.upstream_roles();
    const std::vector<std::string> queries{
        policy::catalog_sql::relations, policy::catalog_sql::functions,    policy::catalog_sql::operators,
        policy::catalog_sql::domains,   policy::catalog_sql::casts,        policy::catalog_sql::sequences,
        policy::catalog_sql::row_policies, policy::catalog_sql::roles(roles), policy::catalog_sql::privileges(roles),
        policy::catalog_sql::types};
    auto results = query_upstream(cfg, cfg.upstream.user, cfg.upstream.password, queries, timeout);
    if (!results) return unexpected(std::move(results.error()));
    auto& r = *results;
    policy::catalog_rows rows;
    rows.relations = std::move(r[0]);
    rows.functions = std::move(r[1]);
    rows.operators = std::move(r[2]);
    rows.domains = std::move(r[3]);
    rows.casts = std::move(r[4]);
    rows.sequences = std::move(r[5]);
    rows.row_policies = std::move(r[6]);
    rows.roles = std::move(r[7]);
    rows.privileges = std::move(r[8]);
    rows.types = std::move(r[9]);
    return rows;
}

expected<std::shared_ptr<const policy::catalog>, std::string> load_catalog(const config::config& cfg,
                                                                         std::chrono::milliseconds timeout) {
    auto rows = load_catalog_rows(cfg, timeout);
    if (!rows) return unexpected(std::move(rows.error()));
    return policy::catalog_from_rows(*rows);
}

}  // namespace pgsieve::net
