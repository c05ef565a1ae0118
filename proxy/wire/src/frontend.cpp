#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/message_io.hpp>

#include <fmt/format.h>

namespace pgsieve::wire {

namespace {
unexpected<std::string> malformed(std::string_view what) {
    return unexpected(fmt::format("malformed {} message", what));
}
}  // namespace

expected<startup_packet, std::string> parse_startup_packet(std::string_view body) {
    message_reader r(body);
    const auto code = r.int32();
    if (!r.ok()) return malformed("startup");
    if (code == ssl_request_code) {
        if (!r.done()) return malformed("SSLRequest");
        return startup_packet{ssl_request{}};
    }
    if (code == gssenc_request_code) {
        if (!r.done()) return malformed("GSSENCRequest");
        return startup_packet{gssenc_request{}};
    }
    if (code == cancel_request_code || code == forwarded_cancel_request_code) {
        cancel_request c;
        c.forwarded = code == forwarded_cancel_request_code;
        c.process_id = r.int32();
        c.secret_key = r.int32();
        if (!r.done()) return malformed("CancelRequest");
        return startup_packet{c};
    }
    startup_message m;
    m.major = static_cast<std::int16_t>(code >> 16);
    m.minor = static_cast<std::int16_t>(code & 0xffff);
    // Only 3.x bodies have a parameter list; other versions are refused by
    // the caller, which needs major/minor to say so.
    if (m.major != 3) return startup_packet{m};
    // name\0value\0 pairs, ended by an empty name.
    for (;;) {
        const auto name = r.cstring();
        if (!r.ok()) return malformed("StartupMessage");
        if (name.empty()) break;
        const auto value = r.cstring();
        if (!r.ok()) return malformed("StartupMessage");
        m.parameters.emplace_back(name, value);
    }
    if (!r.done()) return malformed("StartupMessage");
    return startup_packet{std::move(m)};
}

expected<query_message, std::string> parse_query(std::string_view body) {
    message_reader r(body);
    query_message m{r.cstring()};
    if (!r.done()) return malformed("Query");
    return m;
}

expected<parse_message, std::string> parse_parse(std::string_view body) {
    message_reader r(body);
    parse_message m;
    m.statement = r.cstring();
    m.sql = r.cstring();
    m.parameter_type_count = r.uint16();
    m.parameter_types.reserve(m.parameter_type_count);
    for (std::size_t i = 0; i < m.parameter_type_count && r.ok(); ++i)
        m.parameter_types.push_back(static_cast<std::uint32_t>(r.int32()));
    if (!r.done()) return malformed("Parse");
    return m;
}

expected<bind_message, std::string> parse_bind(std::string_view body) {
    // Only the names are read: parameter values go upstream untouched, and
    // PostgreSQL validates the rest of the message itself.
    message_reader r(body);
    bind_message m;
    m.portal = r.cstring();
    m.statement = r.cstring();
    if (!r.ok()) return malformed("Bind");
    return m;
}

expected<execute_message, std::string> parse_execute(std::string_view body) {
    message_reader r(body);
    execute_message m;
    m.portal = r.cstring();
    m.max_rows = r.int32();
    if (!r.done()) return malformed("Execute");
    return m;
}

expected<describe_message, std::string> parse_describe(std::string_view body) {
    message_reader r(body);
    describe_message m;
    m.kind = static_cast<char>(r.byte());
    m.name = r.cstring();
    if (!r.done() || (m.kind != 'S' && m.kind != 'P')) return malformed("Describe");
    return m;
}

expected<close_message, std::string> parse_close(std::string_view body) {
    message_reader r(body);
    close_message m;
    m.kind = static_cast<char>(r.byte());
    m.name = r.cstring();
    if (!r.done() || (m.kind != 'S' && m.kind != 'P')) return malformed("Close");
    return m;
}

expected<sasl_initial_response, std::string> parse_sasl_initial_response(std::string_view body) {
    message_reader r(body);
    sasl_initial_response m;
    m.mechanism = r.cstring();
    const auto length = r.int32();
    if (length >= 0) m.data = r.bytes(static_cast<std::size_t>(length));
    if (!r.done() || length < -1) return malformed("SASLInitialResponse");
    return m;
}

void write_startup_message(std::string& out, const startup_message& m) {
    message_writer w(out);
    w.begin_untyped().int32((std::int32_t(m.major) << 16) | m.minor);
    for (const auto& [name, value] : m.parameters) w.cstring(name).cstring(value);
    w.byte('\0').end();
}

void write_ssl_request(std::string& out) {
    message_writer(out).begin_untyped().int32(ssl_request_code).end();
}

void write_cancel_request(std::string& out, const cancel_request& m) {
    message_writer(out)
        .begin_untyped()
        .int32(m.forwarded ? forwarded_cancel_request_code : cancel_request_code)
        .int32(m.process_id)
        .int32(m.secret_key)
        .end();
}

void write_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data) {
    message_writer(out)
        .begin(frontend::password)
        .cstring(mechanism)
        .int32(static_cast<std::int32_t>(data.size()))
        .bytes(data)
        .end();
}

void write_sasl_response(std::string& out, std::string_view data) {
    message_writer(out).begin(frontend::password).bytes(data).end();
}

void write_password_message(std::string& out, std::string_view password) {
    message_writer(out).begin(frontend::password).cstring(password).end();
}

void write_query(std::string& out, std::string_view sql) {
    message_writer(out).begin(frontend::query).cstring(sql).end();
}

void write_terminate(std::string& out) {
    message_writer(out).begin(frontend::terminate).end();
}

}  // namespace pgsieve::wire
