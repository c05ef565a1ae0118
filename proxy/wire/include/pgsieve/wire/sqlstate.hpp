#pragma once
// The SQLSTATE codes pgsieve sends, named as in PostgreSQL's errcodes.txt.

#include <string_view>

namespace pgsieve::wire::sqlstate {

inline constexpr std::string_view feature_not_supported = "0A000";
inline constexpr std::string_view connection_failure = "08006";
inline constexpr std::string_view protocol_violation = "08P01";
inline constexpr std::string_view invalid_authorization_specification = "28000";
inline constexpr std::string_view invalid_password = "28P01";
inline constexpr std::string_view invalid_catalog_name = "3D000";
inline constexpr std::string_view insufficient_privilege = "42501";
inline constexpr std::string_view object_not_in_prerequisite_state = "55000";
inline constexpr std::string_view too_many_connections = "53300";
inline constexpr std::string_view program_limit_exceeded = "54000";
inline constexpr std::string_view configuration_limit_exceeded = "53400";
inline constexpr std::string_view io_error = "58030";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view idle_session_timeout = "57P05";
inline constexpr std::string_view internal_error = "XX000";

}  // namespace pgsieve::wire::sqlstate
