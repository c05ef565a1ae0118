#pragma once
// Reading fields out of a message body and writing messages into a buffer.
// The reader never reads past the body; a short or malformed body sets
// `ok() == false` and every later read returns an empty value.

#include <pgsieve/wire/frame.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsieve::wire {

class message_reader {
public:
    explicit message_reader(std::string_view body) : rest_(body) {}

    std::int32_t int32() {
        if (!need(4)) return 0;
        const auto v = load_int32(rest_.data());
        rest_.remove_prefix(4);
        return v;
    }
    std::int16_t int16() {
        if (!need(2)) return 0;
        const auto v = load_int16(rest_.data());
        rest_.remove_prefix(2);
        return v;
    }
    // A count PostgreSQL reads with pq_getmsgint(…, 2): unsigned, 0 to 65535.
    std::uint16_t uint16() { return static_cast<std::uint16_t>(int16()); }
    std::uint8_t byte() {
        if (!need(1)) return 0;
        const auto v = static_cast<std::uint8_t>(rest_[0]);
        rest_.remove_prefix(1);
        return v;
    }
    // A NUL-terminated string; the NUL is consumed and not returned.
    std::string_view cstring() {
        const auto nul = ok_ ? rest_.find('\0') : std::string_view::npos;
        if (nul == std::string_view::npos) {
            ok_ = false;
            return {};
        }
        const auto v = rest_.substr(0, nul);
        rest_.remove_prefix(nul + 1);
        return v;
    }
    std::string_view bytes(std::size_t n) {
        if (!need(n)) return {};
        const auto v = rest_.substr(0, n);
        rest_.remove_prefix(n);
        return v;
    }
    std::string_view rest() const { return rest_; }
    bool ok() const { return ok_; }
    // All read, nothing left over, nothing malformed.
    bool done() const { return ok_ && rest_.empty(); }

private:
    bool need(std::size_t n) {
        if (!ok_ || rest_.size() < n) {
            ok_ = false;
            return false;
        }
        return true;
    }
    std::string_view rest_;
    bool ok_ = true;
};

// Appends one message to `out`: begin(), fields, end() patches the length.
class message_writer {
public:
    explicit message_writer(std::string& out) : out_(out) {}

    message_writer& begin(char type) {
        out_ += type;
        return begin_untyped();
    }
    // Startup-phase messages have no type byte.
    message_writer& begin_untyped() {
        start_ = out_.size();
        out_.append(4, '\0');
        return *this;
    }
    message_writer& int32(std::int32_t v) {
        const auto u = static_cast<std::uint32_t>(v);
        const char b[4] = {char(u >> 24), char(u >> 16), char(u >> 8), char(u)};
        out_.append(b, 4);
        return *this;
    }
    message_writer& int16(std::int16_t v) {
        const auto u = static_cast<std::uint16_t>(v);
        const char b[2] = {char(u >> 8), char(u)};
        out_.append(b, 2);
        return *this;
    }
    message_writer& byte(char v) {
        out_ += v;
        return *this;
    }
    message_writer& cstring(std::string_view s) {
        out_.append(s);
        out_ += '\0';
        return *this;
    }
    message_writer& bytes(std::string_view s) {
        out_.append(s);
        return *this;
    }
    void end() {
        const auto length = static_cast<std::uint32_t>(out_.size() - start_);
        out_[start_] = char(length >> 24);
        out_[start_ + 1] = char(length >> 16);
        out_[start_ + 2] = char(length >> 8);
        out_[start_ + 3] = char(length);
    }

private:
    std::string& out_;
    std::size_t start_ = 0;
};

}  // namespace pgsieve::wire
