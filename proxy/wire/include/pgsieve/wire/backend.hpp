#pragma once
// Messages a server (backend) sends, as PostgreSQL's protocol documentation
// names them: written when the proxy answers its clients, parsed from the
// upstream server for the few the proxy acts on.

#include <pgsieve/common/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgsieve::wire {

namespace backend {
inline constexpr char authentication = 'R';
inline constexpr char backend_key_data = 'K';
inline constexpr char parameter_status = 'S';
inline constexpr char ready_for_query = 'Z';
inline constexpr char error_response = 'E';
inline constexpr char notice_response = 'N';
inline constexpr char notification_response = 'A';
inline constexpr char row_description = 'T';
inline constexpr char data_row = 'D';
inline constexpr char command_complete = 'C';
inline constexpr char empty_query_response = 'I';
inline constexpr char parse_complete = '1';
inline constexpr char bind_complete = '2';
inline constexpr char close_complete = '3';
inline constexpr char portal_suspended = 's';
inline constexpr char no_data = 'n';
inline constexpr char parameter_description = 't';
inline constexpr char copy_in_response = 'G';
inline constexpr char copy_out_response = 'H';
inline constexpr char copy_both_response = 'W';
inline constexpr char copy_data = 'd';
inline constexpr char copy_done = 'c';
inline constexpr char negotiate_protocol_version = 'v';
inline constexpr char function_call_response = 'V';
}  // namespace backend

// Authentication request codes (the int32 after 'R').
enum class auth_code : std::int32_t {
    ok = 0,
    cleartext_password = 3,
    md5_password = 5,
    sasl = 10,
    sasl_continue = 11,
    sasl_final = 12,
};

// The fields of an ErrorResponse or NoticeResponse that pgsieve writes.
struct error_fields {
    std::string severity = "ERROR";  // ERROR or FATAL; NOTICE or WARNING for a NoticeResponse
    std::string sqlstate;
    std::string message;
    std::string detail;
    std::string hint;
    int position = 0;  // 1-based character position in the statement; 0: none
};

// The one ErrorResponse builder (STYLE.md habit 10).
void write_error_response(std::string& out, const error_fields& e);
void write_notice_response(std::string& out, const error_fields& e);
void write_command_complete(std::string& out, std::string_view tag);
void write_authentication_ok(std::string& out);
void write_authentication_sasl(std::string& out, const std::vector<std::string_view>& mechanisms);
void write_authentication_sasl_continue(std::string& out, std::string_view data);
void write_authentication_sasl_final(std::string& out, std::string_view data);
void write_backend_key_data(std::string& out, std::int32_t process_id, std::int32_t secret_key);
void write_parameter_status(std::string& out, std::string_view name, std::string_view value);
void write_ready_for_query(std::string& out, char transaction_status);
void write_negotiate_protocol_version(std::string& out, std::int32_t newest_minor,
                                      const std::vector<std::string>& unrecognized_options);

struct authentication_request {
    auth_code code = auth_code::ok;
    std::string_view data;  // salt (MD5), mechanism list (SASL), SCRAM message
};
struct backend_key {
    std::int32_t process_id = 0;
    std::int32_t secret_key = 0;
};
struct parameter {
    std::string_view name;
    std::string_view value;
};
// A parsed ErrorResponse/NoticeResponse, for logging and rewriting.
struct received_error {
    std::string severity;
    std::string sqlstate;
    std::string message;
    std::string detail;
    std::string hint;
};

[[nodiscard]] expected<authentication_request, std::string> parse_authentication(std::string_view body);
// The mechanism names in an AuthenticationSASL body.
[[nodiscard]] std::vector<std::string_view> sasl_mechanisms(std::string_view data);
[[nodiscard]] expected<backend_key, std::string> parse_backend_key_data(std::string_view body);
[[nodiscard]] expected<parameter, std::string> parse_parameter_status(std::string_view body);
[[nodiscard]] expected<char, std::string> parse_ready_for_query(std::string_view body);
[[nodiscard]] expected<received_error, std::string> parse_error_response(std::string_view body);
[[nodiscard]] expected<std::string_view, std::string> parse_command_complete(std::string_view body);
// An ErrorResponse or NoticeResponse body rewritten as a whole message
// without the fields whose codes are in `drop`, and with `detail` as its
// DETAIL when not empty (for errors whose details may show hidden values).
[[nodiscard]] expected<std::string, std::string> rewrite_error_response(char type, std::string_view body,
                                                                       std::string_view drop, std::string_view detail);
// Whether an ErrorResponse/NoticeResponse body holds a field with one of these codes.
[[nodiscard]] bool error_has_field(std::string_view body, std::string_view codes);
// A DataRow's column values (text or binary as sent); nullopt for NULL.
[[nodiscard]] expected<std::vector<std::optional<std::string_view>>, std::string> parse_data_row(std::string_view body);

}  // namespace pgsieve::wire
