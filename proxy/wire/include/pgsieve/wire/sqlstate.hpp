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
// pgsieve's own class PA (implementation-defined, as classes I–Z are):
// writes held for a person's approval.
inline constexpr std::string_view approval_required = "PA001";  // held: a ticket was opened, or awaits its decision
inline constexpr std::string_view approval_rejected = "PA002";
inline constexpr std::string_view approval_mismatch = "PA003";  // the re-run changed another number of rows
inline constexpr std::string_view io_error = "58030";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view idle_session_timeout = "57P05";
inline constexpr std::string_view internal_error = "XX000";

}  // namespace pgsieve::wire::sqlstate
