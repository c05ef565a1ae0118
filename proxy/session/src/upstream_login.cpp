// Logging in upstream as the configured role: optional TLS, then
// SCRAM-SHA-256, MD5, cleartext or trust, until the first ReadyForQuery.

#include <pgsieve/session/upstream_login.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/md5.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace pgsieve::session {

namespace {
// PostgreSQL never sends a message above MaxAllocSize.
constexpr std::uint32_t max_upstream_message_bytes = 1u << 30;
}  // namespace

upstream_login::upstream_login(const config::upstream_settings& upstream, identity who,
                               std::vector<std::pair<std::string, std::string>> parameters, std::string& input,
                               std::string& output)
    : upstream_(upstream), who_(std::move(who)), parameters_(std::move(parameters)), in_(input), out_(output) {}

void upstream_login::fail(std::string why) {
    error_ = std::move(why);
    state_ = state::failed;
}

void upstream_login::on_connected() {
    if (upstream_.ssl == config::sslmode::disable) {
        send_startup();
        return;
    }
    wire::write_ssl_request(out_);
    state_ = state::ssl_response;
}

void upstream_login::on_tls(bool ok, std::string_view error) {
    if (!ok) {
        fail(fmt::format("TLS handshake failed: {}", error));
        return;
    }
    send_startup();
}

void upstream_login::send_startup() {
    wire::startup_message m;
    m.parameters = {{"user", who_.user}, {"database", upstream_.database}};
    m.parameters.insert(m.parameters.end(), parameters_.begin(), parameters_.end());
    wire::write_startup_message(out_, m);
    state_ = state::login;
}

upstream_login::step upstream_login::next() {
    for (;;) {
        switch (state_) {
            case state::not_connected:
            case state::failed:
                return step::failed;
            case state::ready:
                return step::ready;
            case state::tls:
                return step::tls_handshake;
            case state::ssl_response:
            case state::login:
                if (!out_.empty()) return step::write;
                if (!(state_ == state::ssl_response ? step_ssl_response() : step_login())) return step::read;
                continue;
        }
    }
}

bool upstream_login::step_ssl_response() {
    if (in_.empty()) return false;
    const char answer = in_[0];
    // Anything after the one-byte answer arrived before the handshake and
    // could not have come through TLS (CVE-2021-23214): refuse it.
    if (in_.size() > 1) {
        fail("unexpected data after the answer to SSLRequest");
        return true;
    }
    in_.clear();
    if (answer == 'S') {
        state_ = state::tls;
    } else if (answer == 'N') {
        if (upstream_.ssl == config::sslmode::prefer) send_startup();
        else fail(fmt::format("the server does not support TLS (sslmode {})", config::to_string(upstream_.ssl)));
    } else {
        fail("unexpected answer to SSLRequest");
    }
    return true;
}

bool upstream_login::step_login() {
    const auto r = wire::decode_frame(in_, max_upstream_message_bytes);
    if (r.status == wire::decode_status::need_more) return false;
    if (r.status == wire::decode_status::error) {
        fail(r.error);
        return true;
    }
    const wire::frame f = r.message;
    const std::string& password = who_.password ? *who_.password : std::string();
    namespace be = wire::backend;
    switch (f.type) {
        case be::authentication: {
            const auto a = wire::parse_authentication(f.body);
            if (!a) {
                fail(a.error());
                return true;
            }
            if (a->code != wire::auth_code::ok && !who_.password) {
                fail(fmt::format("the server asks for a password for role \"{}\"; set its password_env or password_file",
                                 who_.user));
                return true;
            }
            switch (a->code) {
                case wire::auth_code::ok:
                    // Trust is acceptable; skipping a SCRAM exchange we began is not.
                    if (scram_ && !scram_verified_) {
                        fail("the server ended SCRAM authentication without proving itself");
                        return true;
                    }
                    break;
                case wire::auth_code::cleartext_password:
                    wire::write_password_message(out_, password);
                    break;
                case wire::auth_code::md5_password:
                    if (a->data.size() != 4) {
                        fail("malformed AuthenticationMD5Password");
                        return true;
                    }
                    wire::write_password_message(out_,
                                                 wire::md5_password_response(who_.user, password, a->data));
                    break;
                case wire::auth_code::sasl: {
                    const auto mechanisms = wire::sasl_mechanisms(a->data);
                    if (std::find(mechanisms.begin(), mechanisms.end(), wire::scram::mechanism) == mechanisms.end()) {
                        fail("the server offers no SASL mechanism pgsieve supports");
                        return true;
                    }
                    scram_.emplace(password, wire::scram::random_nonce());
                    const auto first = scram_->client_first();
                    if (!first) {
                        fail(first.error().detail);
                        return true;
                    }
                    wire::write_sasl_initial_response(out_, wire::scram::mechanism, *first);
                    break;
                }
                case wire::auth_code::sasl_continue: {
                    if (!scram_) {
                        fail("SASL message out of order");
                        return true;
                    }
                    const auto final_message = scram_->on_server_first(a->data);
                    if (!final_message) {
                        fail("SCRAM: " + final_message.error().detail);
                        return true;
                    }
                    wire::write_sasl_response(out_, *final_message);
                    break;
                }
                case wire::auth_code::sasl_final: {
                    const auto verified = scram_ ? scram_->on_server_final(a->data)
                                                        : expected<void, wire::scram::error>(unexpected(
                                                              wire::scram::error{wire::scram::errc::out_of_order, ""}));
                    if (!verified) {
                        fail("SCRAM: the server could not prove it knows the password");
                        return true;
                    }
                    scram_verified_ = true;
                    break;
                }
                default:
                    fail(fmt::format("unsupported authentication method {}", static_cast<int>(a->code)));
                    return true;
            }
            break;
        }
        case be::parameter_status:
        case be::backend_key_data:
        case be::notice_response:
        case be::negotiate_protocol_version:
            break;  // kept in in_ until ReadyForQuery; see upstream_ready
        case be::error_response: {
            const auto e = wire::parse_error_response(f.body);
            fail(fmt::format("login refused: {}", e ? e->message : "unreadable ErrorResponse"));
            return true;
        }
        case be::ready_for_query: {
            const auto status = wire::parse_ready_for_query(f.body);
            if (!status) {
                fail(status.error());
                return true;
            }
            in_.erase(0, f.size);
            transaction_status_ = *status;
            state_ = state::ready;
            return true;
        }
        default:
            fail(fmt::format("unexpected message type {} during login", static_cast<int>(f.type)));
            return true;
    }
    // Authentication messages are consumed; the session's ParameterStatus
    // and BackendKeyData are collected as they come.
    if (f.type == be::parameter_status) {
        if (const auto p = wire::parse_parameter_status(f.body))
            status_.emplace_back(std::string(p->name), std::string(p->value));
    } else if (f.type == be::backend_key_data) {
        if (const auto k = wire::parse_backend_key_data(f.body)) key_ = *k;
    }
    in_.erase(0, f.size);
    return true;
}

}  // namespace pgsieve::session
