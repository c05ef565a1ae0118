#include <pgsieve/common/time.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace pgsieve {

std::string rfc3339(sys_time t) {
    const auto seconds = std::chrono::floor<std::chrono::seconds>(t);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - seconds).count();
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", seconds, micros);
}

}  // namespace pgsieve
