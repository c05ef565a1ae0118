#include <pgsieve/wire/frame.hpp>

#include <fmt/format.h>

namespace pgsieve::wire {

decode_result decode_frame(std::string_view input, std::uint32_t max_message_bytes) {
    decode_result r;
    if (input.size() < frame_header_bytes) return r;
    const auto length = static_cast<std::uint32_t>(load_int32(input.data() + 1));
    if (length < 4) {
        r.status = decode_status::error;
        r.error = fmt::format("invalid message length {}", static_cast<std::int32_t>(length));
        return r;
    }
    if (length > max_message_bytes) {
        r.status = decode_status::error;
        r.error = fmt::format("message of {} bytes exceeds the limit of {} bytes", length, max_message_bytes);
        return r;
    }
    if (input.size() < std::size_t(length) + 1) return r;
    r.status = decode_status::ok;
    r.message = frame{input[0], input.substr(frame_header_bytes, length - 4), std::size_t(length) + 1};
    return r;
}

decode_result decode_startup_frame(std::string_view input) {
    decode_result r;
    if (input.size() < 4) return r;
    const auto length = static_cast<std::uint32_t>(load_int32(input.data()));
    if (length < 8 || length > max_startup_packet_bytes) {
        r.status = decode_status::error;
        r.error = fmt::format("invalid startup packet length {}", static_cast<std::int32_t>(length));
        return r;
    }
    if (input.size() < length) return r;
    r.status = decode_status::ok;
    r.message = frame{0, input.substr(4, length - 4), length};
    return r;
}

}  // namespace pgsieve::wire
