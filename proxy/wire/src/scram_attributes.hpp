#pragma once
// RFC 5802 messages are comma-separated "a=value" attributes in a fixed
// order. This reads them one at a time so each step can check the order.

#include <optional>
#include <string_view>

namespace pgsieve::wire::scram {

class attribute_reader {
public:
    explicit attribute_reader(std::string_view text) : rest_(text) {}

    // The value of the next attribute if it is named `name`; consumes it.
    std::optional<std::string_view> expect(char name);
    // The next attribute's name without consuming it, or 0 at the end.
    char peek() const;
    bool at_end() const { return done_; }
    // Everything not yet consumed, e.g. to cut a message at the proof.
    std::string_view rest() const { return rest_; }

private:
    std::string_view rest_;
    bool done_ = false;
};

// RFC 5802 "printable": %x21-2B / %x2D-7E (no comma), and not empty.
bool is_printable_nonce(std::string_view s);

}  // namespace pgsieve::wire::scram
