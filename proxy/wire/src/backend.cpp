#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/message_io.hpp>

#include <fmt/format.h>

namespace pgsieve::wire {

namespace {
unexpected<std::string> malformed(std::string_view what) {
    return unexpected(fmt::format("malformed {} message", what));
}

void field(message_writer& w, char code, std::string_view value) {
    if (!value.empty()) w.byte(code).cstring(value);
}
}  // namespace

namespace {
void write_fields(std::string& out, char type, const error_fields& e) {
    message_writer w(out);
    w.begin(type);
    field(w, 'S', e.severity);
    field(w, 'V', e.severity);  // non-localized severity, as PostgreSQL 9.6+ sends
    field(w, 'C', e.sqlstate);
    field(w, 'M', e.message);
    field(w, 'D', e.detail);
    field(w, 'H', e.hint);
    if (e.position > 0) field(w, 'P', std::to_string(e.position));
    w.byte('\0').end();
}
}  // namespace

void write_error_response(std::string& out, const error_fields& e) { write_fields(out, backend::error_response, e); }

void write_notice_response(std::string& out, const error_fields& e) { write_fields(out, backend::notice_response, e); }

void write_command_complete(std::string& out, std::string_view tag) {
    message_writer(out).begin(backend::command_complete).cstring(tag).end();
}

void write_authentication_ok(std::string& out) {
    message_writer(out).begin(backend::authentication).int32(std::int32_t(auth_code::ok)).end();
}

void write_authentication_sasl(std::string& out, const std::vector<std::string_view>& mechanisms) {
    message_writer w(out);
    w.begin(backend::authentication).int32(std::int32_t(auth_code::sasl));
    for (const auto m : mechanisms) w.cstring(m);
    w.byte('\0').end();
}

void write_authentication_sasl_continue(std::string& out, std::string_view data) {
    message_writer(out).begin(backend::authentication).int32(std::int32_t(auth_code::sasl_continue)).bytes(data).end();
}

void write_authentication_sasl_final(std::string& out, std::string_view data) {
    message_writer(out).begin(backend::authentication).int32(std::int32_t(auth_code::sasl_final)).bytes(data).end();
}

void write_backend_key_data(std::string& out, std::int32_t process_id, std::int32_t secret_key) {
    message_writer(out).begin(backend::backend_key_data).int32(process_id).int32(secret_key).end();
}

void write_parameter_status(std::string& out, std::string_view name, std::string_view value) {
    message_writer(out).begin(backend::parameter_status).cstring(name).cstring(value).end();
}

void write_ready_for_query(std::string& out, char transaction_status) {
    message_writer(out).begin(backend::ready_for_query).byte(transaction_status).end();
}

void write_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                      const std::vector<std::string>& unrecognized_options) {
    message_writer w(out);
    w.begin(backend::negotiate_protocol_version)
        .int32(newest_minor)
        .int32(static_cast<std::int32_t>(unrecognized_options.size()));
    for (const auto& o : unrecognized_options) w.cstring(o);
    w.end();
}

expected<authentication_request, std::string> parse_authentication(std::string_view body) {
    message_reader r(body);
    authentication_request a;
    a.code = static_cast<auth_code>(r.int32());
    if (!r.ok()) return malformed("Authentication");
    a.data = r.rest();
    return a;
}

std::vector<std::string_view> sasl_mechanisms(std::string_view data) {
    std::vector<std::string_view> out;
    message_reader r(data);
    for (;;) {
        const auto m = r.cstring();
        if (!r.ok() || m.empty()) break;
        out.push_back(m);
    }
    return out;
}

expected<backend_key, std::string> parse_backend_key_data(std::string_view body) {
    message_reader r(body);
    backend_key k;
    k.process_id = r.int32();
    k.secret_key = r.int32();
    if (!r.done()) return malformed("BackendKeyData");
    return k;
}

expected<parameter, std::string> parse_parameter_status(std::string_view body) {
    message_reader r(body);
    parameter p;
    p.name = r.cstring();
    p.value = r.cstring();
    if (!r.done()) return malformed("ParameterStatus");
    return p;
}

expected<char, std::string> parse_ready_for_query(std::string_view body) {
    message_reader r(body);
    const char status = static_cast<char>(r.byte());
    if (!r.done() || (status != 'I' && status != 'T' && status != 'E')) return malformed("ReadyForQuery");
    return status;
}

expected<received_error, std::string> parse_error_response(std::string_view body) {
    message_reader r(body);
    received_error e;
    for (;;) {
        const auto code = static_cast<char>(r.byte());
        if (!r.ok()) return malformed("ErrorResponse");
        if (code == '\0') break;
        const auto value = r.cstring();
        if (!r.ok()) return malformed("ErrorResponse");
        switch (code) {
            case 'V': e.severity = value; break;
            case 'S': if (e.severity.empty()) e.severity = value; break;
            case 'C': e.sqlstate = value; break;
            case 'M': e.message = value; break;
            case 'D': e.detail = value; break;
            case 'H': e.hint = value; break;
            default: break;
        }
    }
    return e;
}

expected<std::string, std::string> rewrite_error_response(char type, std::string_view body, std::string_view drop,
                                                        std::string_view detail) {
    message_reader r(body);
    std::string out;
    message_writer w(out);
    w.begin(type);
    for (;;) {
        const auto code = static_cast<char>(r.byte());
        if (!r.ok()) return malformed("ErrorResponse");
        if (code == '\0') break;
        const auto value = r.cstring();
        if (!r.ok()) return malformed("ErrorResponse");
        if (drop.find(code) != std::string_view::npos) continue;
        w.byte(static_cast<std::uint8_t>(code)).cstring(value);
    }
    if (!detail.empty()) w.byte('D').cstring(detail);
    w.byte('\0').end();
    return out;
}

bool error_has_field(std::string_view body, std::string_view codes) {
    message_reader r(body);
    for (;;) {
        const auto code = static_cast<char>(r.byte());
        if (!r.ok() || code == '\0') return false;
        (void)r.cstring();
        if (!r.ok()) return false;
        if (codes.find(code) != std::string_view::npos) return true;
    }
}

expected<std::string_view, std::string> parse_command_complete(std::string_view body) {
    message_reader r(body);
    const auto tag = r.cstring();
    if (!r.done()) return malformed("CommandComplete");
    return tag;
}

expected<std::vector<std::optional<std::string_view>>, std::string> parse_data_row(std::string_view body) {
    message_reader r(body);
    const auto count = r.uint16();  // as libpq reads it
    if (!r.ok()) return malformed("DataRow");
    std::vector<std::optional<std::string_view>> values;
    values.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        const auto length = r.int32();
        if (length == -1) {
            values.emplace_back(std::nullopt);
            continue;
        }
        if (length < 0) return malformed("DataRow");
        values.emplace_back(r.bytes(static_cast<std::size_t>(length)));
    }
    if (!r.done()) return malformed("DataRow");
    return values;
}

}  // namespace pgsieve::wire
