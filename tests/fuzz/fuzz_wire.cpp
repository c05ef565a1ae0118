// libFuzzer target: every decoder and message parser of wire, on
// arbitrary bytes. Nothing may crash, hang or read out of bounds.

#include <pgsieve/wire/backend.hpp>
#include <pgsieve/wire/frame.hpp>
#include <pgsieve/wire/frontend.hpp>
#include <pgsieve/wire/scram.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pgsieve::wire;
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    if (const auto s = decode_startup_frame(input); s.status == decode_status::ok) (void)parse_startup_packet(s.message.body);

    std::string_view rest = input;
    while (!rest.empty()) {
        const auto f = decode_frame(rest, 1u << 20);
        if (f.status != decode_status::ok) break;
        const auto body = f.message.body;
        (void)parse_query(body);
        (void)parse_parse(body);
        (void)parse_bind(body);
        (void)parse_execute(body);
        (void)parse_describe(body);
        (void)parse_close(body);
        (void)parse_sasl_initial_response(body);
        (void)parse_authentication(body);
        (void)sasl_mechanisms(body);
        (void)parse_backend_key_data(body);
        (void)parse_parameter_status(body);
        (void)parse_ready_for_query(body);
        (void)parse_error_response(body);
        (void)parse_command_complete(body);
        rest.remove_prefix(f.message.size);
    }

    (void)scram::parse_verifier(input);
    scram::verifier v;
    v.salt = "salt";
    scram::server_exchange server(v, "servernonce");
    if (server.on_client_first(input)) (void)server.on_client_final(input);
    scram::client_exchange client("pw", "clientnonce");
    (void)client.client_first();
    if (client.on_server_first(input)) (void)client.on_server_final(input);
    return 0;
}
