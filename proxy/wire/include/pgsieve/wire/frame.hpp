#pragma once
// Framing of the PostgreSQL v3 protocol. A decoder never consumes a partial
// frame: it answers need_more until the whole frame is in the buffer, and
// every peer-supplied length is checked against a named limit first.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pgsieve::wire {

// PostgreSQL's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t max_startup_packet_bytes = 10'000;
// A frame's header: type byte + int32 length; startup frames have no type.
inline constexpr std::size_t frame_header_bytes = 5;

enum class decode_status { need_more, ok, error };

struct frame {
    char type = 0;          // 0 for startup-phase frames
    std::string_view body;  // the bytes after the length field
    std::size_t size = 0;   // bytes the frame occupies in the input
};

struct decode_result {
    decode_status status = decode_status::need_more;
    frame message;
    std::string error;  // when status == error: why, for the FATAL sent back
};

// A typed frame: type byte, int32 length (counting itself), body.
[[nodiscard]] decode_result decode_frame(std::string_view input, std::uint32_t max_message_bytes);
// A startup-phase frame (StartupMessage, SSLRequest, GSSENCRequest,
// CancelRequest): int32 length, then the body beginning with an int32 code.
[[nodiscard]] decode_result decode_startup_frame(std::string_view input);

// Reads a big-endian int32 / int16 at `p` (the caller checked the bounds).
inline std::int32_t load_int32(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return static_cast<std::int32_t>((std::uint32_t(u[0]) << 24) | (std::uint32_t(u[1]) << 16) |
                                     (std::uint32_t(u[2]) << 8) | std::uint32_t(u[3]));
}
inline std::int16_t load_int16(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return static_cast<std::int16_t>((std::uint16_t(u[0]) << 8) | std::uint16_t(u[1]));
}

}  // namespace pgsieve::wire
