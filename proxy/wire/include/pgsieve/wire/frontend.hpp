#pragma once
// Messages a client (frontend) sends, as PostgreSQL's protocol documentation
// names them: parsed from a frame body when the proxy acts on them, written
// when the proxy itself is the client of the upstream server.

#include <pgsieve/common/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace pgsieve::wire {

namespace frontend {
inline constexpr char query = 'Q';
inline constexpr char parse = 'P';
inline constexpr char bind = 'B';
inline constexpr char execute = 'E';
inline constexpr char describe = 'D';
inline constexpr char close = 'C';
inline constexpr char sync = 'S';
inline constexpr char flush = 'H';
inline constexpr char function_call = 'F';
inline constexpr char terminate = 'X';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char copy_fail = 'f';
inline constexpr char password = 'p';  // PasswordMessage, SASLInitialResponse, SASLResponse
}  // namespace frontend

inline constexpr std::int32_t protocol_version_3_0 = 3 << 16;
inline constexpr std::int32_t ssl_request_code = 80877103;
inline constexpr std::int32_t gssenc_request_code = 80877104;
inline constexpr std::int32_t cancel_request_code = 80877102;
// pgsieve's own code (not PostgreSQL's): a CancelRequest one replica passes
// to its peers. A peer acts on it only with a key it issued and never passes
// it on, so a cancel cannot loop between replicas.
inline constexpr std::int32_t forwarded_cancel_request_code = 80877124;

struct startup_message {
    std::int16_t major = 3;
    std::int16_t minor = 0;
    std::vector<std::pair<std::string, std::string>> parameters;  // in the order sent
};
struct ssl_request {};
struct gssenc_request {};
struct cancel_request {
    std::int32_t process_id = 0;
    std::int32_t secret_key = 0;
    bool forwarded = false;  // sent by a peer replica (forwarded_cancel_request_code)
};
using startup_packet = std::variant<startup_message, ssl_request, gssenc_request, cancel_request>;

struct query_message {
    std::string_view sql;
};
struct parse_message {
    std::string_view statement;
    std::string_view sql;
    std::uint16_t parameter_type_count = 0;  // up to 65535, as PostgreSQL reads it
    std::vector<std::uint32_t> parameter_types;  // each parameter's type OID (0: unspecified)
};
struct bind_message {
    std::string_view portal;
    std::string_view statement;
};
struct execute_message {
    std::string_view portal;
    std::int32_t max_rows = 0;
};
// Describe and Close name a prepared statement ('S') or a portal ('P').
struct describe_message {
    char kind = 'S';
    std::string_view name;
};
struct close_message {
    char kind = 'S';
    std::string_view name;
};
struct sasl_initial_response {
    std::string_view mechanism;
    std::string_view data;
};

// Each returns an error text naming what is malformed, for a FATAL 08P01.
[[nodiscard]] expected<startup_packet, std::string> parse_startup_packet(std::string_view body);
[[nodiscard]] expected<query_message, std::string> parse_query(std::string_view body);
[[nodiscard]] expected<parse_message, std::string> parse_parse(std::string_view body);
[[nodiscard]] expected<bind_message, std::string> parse_bind(std::string_view body);
[[nodiscard]] expected<execute_message, std::string> parse_execute(std::string_view body);
[[nodiscard]] expected<describe_message, std::string> parse_describe(std::string_view body);
[[nodiscard]] expected<close_message, std::string> parse_close(std::string_view body);
[[nodiscard]] expected<sasl_initial_response, std::string> parse_sasl_initial_response(std::string_view body);

void write_startup_message(std::string& out, const startup_message& m);
void write_ssl_request(std::string& out);
void write_cancel_request(std::string& out, const cancel_request& m);
void write_sasl_initial_response(std::string& out, std::string_view mechanism, std::string_view data);
void write_sasl_response(std::string& out, std::string_view data);
void write_password_message(std::string& out, std::string_view password);
void write_query(std::string& out, std::string_view sql);
void write_terminate(std::string& out);

}  // namespace pgsieve::wire
