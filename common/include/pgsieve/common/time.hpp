#pragma once
// Wall-clock times as the logs and the audit store them: UTC, RFC 3339,
// microseconds ("2026-11-24T14:33:45.123456Z"), which sort as text.

#include <chrono>
#include <string>

namespace pgsieve {

using sys_time = std::chrono::system_clock::time_point;

[[nodiscard]] std::string rfc3339(sys_time t);

}  // namespace pgsieve
