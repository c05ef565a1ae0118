// Logging in upstream as the configured role: optional TLS, then
// SCRAM-SHA-256, MD5, cleartext or trust, until the first ReadyForQuery.

#include <pgsieve/session/session.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/md5.hpp>
#include <pgsieve/wire/sqlstate.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::session {

namespace {
// PostgreSQL never sends a message above MaxAllocSize.
constexpr std::uint32_t max_upstream_message_bytes = 1u << 30;
}  // namespace

void session::upstream_failed(std::string why) {
    const auto& u = cfg_->upstream;
    fail(wire::sqlstate::connection_failure, fmt::format("pgsieve: upstream server {}:{}: {}", u.host, u.port, why));
}

void session::on_upstream_connected(bool ok, std::string_view error) {
    if (!ok) {
        upstream_failed(fmt::format("cannot connect: {}", error));
        return;
    }
    if (cfg_->upstream.ssl == config::sslmode::disable) {
        send_upstream_startup();
        return;
    }
    wire::write_ssl_request(upstream_out_);
    state_ = state::upstream_ssl_response;
}

void session::on_upstream_tls(bool ok, std::string_view error) {
    if (!ok) {
        upstream_failed(fmt::format("TLS handshake failed: {}", error));
        return;
    }
    send_upstream_startup();
}

void session::send_upstream_startup() {
    wire::startup_message m;
    m.parameters = {{"user", cfg_->upstream.user}, {"database", cfg_->upstream.database}};
    m.parameters.insert(m.parameters.end(), upstream_parameters_.begin(), upstream_parameters_.end());
    wire::write_startup_message(upstream_out_, m);
    state_ = state::upstream_login;
}

bool session::step_upstream() {
    if (state_ == state::upstream_ssl_response) {
        if (upstream_in_.empty()) return false;
        const char answer = upstream_in_[0];
        // Anything after the one-byte answer arrived before the handshake and
        // could not have come through TLS (CVE-2021-23214): refuse it.
        if (upstream_in_.size() > 1) {
            upstream_failed("unexpected data after the answer to SSLRequest");
            return true;
        }
        upstream_in_.clear();
        if (answer == 'S') {
            state_ = state::upstream_tls;
        } else if (answer == 'N') {
            if (cfg_->upstream.ssl == config::sslmode::prefer) send_upstream_startup();
            else upstream_failed(fmt::format("the server does not support TLS (sslmode {})", config::to_string(cfg_->upstream.ssl)));
        } else {
            upstream_failed("unexpected answer to SSLRequest");
        }
        return true;
    }

    const auto r = wire::decode_frame(upstream_in_, max_upstream_message_bytes);
    if (r.status == wire::decode_status::need_more) return false;
    if (r.status == wire::decode_status::error) {
        upstream_failed(r.error);
        return true;
    }
    const wire::frame f = r.message;
    const std::string& password = cfg_->upstream.password ? *cfg_->upstream.password : std::string();
    namespace be = wire::backend;
    switch (f.type) {
        case be::authentication: {
            const auto a = wire::parse_authentication(f.body);
            if (!a) {
                upstream_failed(a.error());
                return true;
            }
            if (a->code != wire::auth_code::ok && !cfg_->upstream.password) {
                upstream_failed("the server asks for a password; set upstream.password_env or password_file");
                return true;
            }
            switch (a->code) {
                case wire::auth_code::ok:
                    // Trust is acceptable; skipping a SCRAM exchange we began is not.
                    if (scram_client_ && !upstream_authenticated_) {
                        upstream_failed("the server ended SCRAM authentication without proving itself");
                        return true;
                    }
                    break;
                case wire::auth_code::cleartext_password:
                    wire::write_password_message(upstream_out_, password);
                    break;
                case wire::auth_code::md5_password:
                    if (a->data.size() != 4) {
                        upstream_failed("malformed AuthenticationMD5Password");
                        return true;
                    }
                    wire::write_password_message(upstream_out_,
                                                 wire::md5_password_response(cfg_->upstream.user, password, a->data));
                    break;
                case wire::auth_code::sasl: {
                    const auto mechanisms = wire::sasl_mechanisms(a->data);
                    if (std::find(mechanisms.begin(), mechanisms.end(), wire::scram::mechanism) == mechanisms.end()) {
                        upstream_failed("the server offers no SASL mechanism pgsieve supports");
                        return true;
                    }
                    scram_client_.emplace(password, wire::scram::random_nonce());
                    const auto first = scram_client_->client_first();
                    if (!first) {
                        upstream_failed(first.error().detail);
                        return true;
                    }
                    wire::write_sasl_initial_response(upstream_out_, wire::scram::mechanism, *first);
                    break;
                }
                case wire::auth_code::sasl_continue: {
                    if (!scram_client_) {
                        upstream_failed("SASL message out of order");
                        return true;
                    }
                    const auto final_message = scram_client_->on_server_first(a->data);
                    if (!final_message) {
                        upstream_failed("SCRAM: " + final_message.error().detail);
                        return true;
                    }
                    wire::write_sasl_response(upstream_out_, *final_message);
                    break;
                }
                case wire::auth_code::sasl_final: {
                    const auto verified = scram_client_ ? scram_client_->on_server_final(a->data)
                                                        : expected<void, wire::scram::error>(unexpected(
                                                              wire::scram::error{wire::scram::errc::out_of_order, ""}));
                    if (!verified) {
                        upstream_failed("SCRAM: the server could not prove it knows the password");
                        return true;
                    }
                    upstream_authenticated_ = true;
                    break;
                }
                default:
                    upstream_failed(fmt::format("unsupported authentication method {}", static_cast<int>(a->code)));
                    return true;
            }
            break;
        }
        case be::parameter_status:
        case be::backend_key_data:
        case be::notice_response:
        case be::negotiate_protocol_version:
            break;  // kept in upstream_in_ until ReadyForQuery; see upstream_ready
        case be::error_response: {
            const auto e = wire::parse_error_response(f.body);
            upstream_failed(fmt::format("login refused: {}", e ? e->message : "unreadable ErrorResponse"));
            return true;
        }
        case be::ready_for_query: {
            const auto status = wire::parse_ready_for_query(f.body);
            if (!status) {
                upstream_failed(status.error());
                return true;
            }
            upstream_in_.erase(0, f.size);
            upstream_ready(*status);
            return true;
        }
        default:
            upstream_failed(fmt::format("unexpected message type {} during login", static_cast<int>(f.type)));
            return true;
    }
    // Authentication messages are consumed; the session's ParameterStatus
    // and BackendKeyData are collected as they come.
    if (f.type == be::parameter_status) {
        if (const auto p = wire::parse_parameter_status(f.body))
            upstream_status_.emplace_back(std::string(p->name), std::string(p->value));
    } else if (f.type == be::backend_key_data) {
        if (const auto k = wire::parse_backend_key_data(f.body)) upstream_key_ = *k;
    }
    upstream_in_.erase(0, f.size);
    return true;
}

void session::upstream_ready(char transaction_status) {
    const auto& u = cfg_->upstream;
    proxy_key_ = shared_.cancels.add(cancel_target{u.host, u.port, upstream_key_});
    wire::write_authentication_ok(client_out_);
    for (const auto& [name, value] : upstream_status_) wire::write_parameter_status(client_out_, name, value);
    wire::write_backend_key_data(client_out_, proxy_key_->process_id, proxy_key_->secret_key);
    wire::write_ready_for_query(client_out_, transaction_status);
    upstream_status_.clear();
    state_ = state::relay;
}

}  // namespace pgsieve::session
