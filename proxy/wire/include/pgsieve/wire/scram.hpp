#pragma once
// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: verifiers in
// PostgreSQL's stored format, the server side of an exchange (how the proxy
// authenticates its clients) and the client side (how it logs in upstream).
// Sans-io: each step takes the peer's message text and returns ours.

#include <pgsieve/common/expected.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pgsieve::wire::scram {

inline constexpr std::string_view mechanism = "SCRAM-SHA-256";
// With channel binding to the TLS connection (RFC 5929 tls-server-end-point).
inline constexpr std::string_view mechanism_plus = "SCRAM-SHA-256-PLUS";
// PostgreSQL's default scram_iterations; its verifiers use the same.
inline constexpr int default_iterations = 4096;
// Bounds on what a peer or a configuration file may ask of us.
inline constexpr int max_iterations = 10'000'000;
inline constexpr std::size_t max_salt_bytes = 1024;
inline constexpr std::size_t max_message_bytes = 4096;

enum class errc {
    malformed_verifier,      // not SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>
    unsupported_password,    // needs SASLprep normalization, which pgsieve does not do
    malformed_message,       // a SCRAM message that does not follow RFC 5802's grammar
    unsupported_feature,     // channel binding, authzid or extensions we do not offer
    nonce_mismatch,          // the peer changed the nonce between messages
    wrong_password,          // the client's proof does not match the verifier
    server_not_verified,     // upstream's signature does not match: not the server we know
    server_error,            // upstream ended the exchange with e=...
    out_of_order,            // a step called before the previous one succeeded
};

struct error {
    errc code;
    std::string detail;
};

struct verifier {
    int iterations = default_iterations;
    std::string salt;  // raw bytes
    std::array<std::uint8_t, 32> stored_key{};
    std::array<std::uint8_t, 32> server_key{};
};

// PostgreSQL's text form: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
[[nodiscard]] expected<verifier, error> parse_verifier(std::string_view text);
[[nodiscard]] std::string to_string(const verifier& v);
[[nodiscard]] bool looks_like_verifier(std::string_view text);

// The password as SCRAM hashes it. PostgreSQL applies SASLprep, which leaves
// ASCII unchanged; other text would need Unicode NFKC, so it is refused here
// rather than hashed differently from libpq.
[[nodiscard]] expected<std::string, error> prepare_password(std::string_view password);

[[nodiscard]] expected<verifier, error> make_verifier(std::string_view password, std::string_view salt,
                                                      int iterations);
// A verifier with a fresh random 16-byte salt, as PostgreSQL makes them.
[[nodiscard]] expected<verifier, error> generate_verifier(std::string_view password,
                                                          int iterations = default_iterations);

// A verifier for a user that does not exist, derived from the name and a
// process secret: the exchange runs to the proof exactly as for a real user,
// with a stable salt, so timing and replies do not reveal which names exist.
[[nodiscard]] verifier mock_verifier(std::string_view user, std::span<const std::uint8_t> secret);

// A printable nonce of 18 random bytes in base64, as PostgreSQL uses.
[[nodiscard]] std::string random_nonce();

// Server side of one exchange: client-first → server-first, client-final →
// server-final. With `channel_binding` (the tls-server-end-point data of the
// TLS connection) SCRAM-SHA-256-PLUS is offered, and a client that could
// bind but says the server cannot ("y") is refused as a downgrade.
class server_exchange {
public:
    server_exchange(verifier v, std::string server_nonce, bool doomed = false, std::string channel_binding = {});

    // `plus`: the client chose SCRAM-SHA-256-PLUS.
    [[nodiscard]] expected<std::string, error> on_client_first(std::string_view message, bool plus = false);
    [[nodiscard]] expected<std::string, error> on_client_final(std::string_view message);

private:
    enum class step { client_first, client_final, done };
    verifier verifier_;
    std::string server_nonce_;
    bool doomed_;
    std::string channel_binding_;
    bool plus_ = false;
    step step_ = step::client_first;
    std::string gs2_header_;
    std::string client_first_bare_;
    std::string server_first_;
    std::string nonce_;
};

// Client side of one exchange, without channel binding ("n,,").
class client_exchange {
public:
    // PostgreSQL ignores the SCRAM user name (the startup packet named the
    // user), so it is empty unless a test vector needs one.
    client_exchange(std::string_view password, std::string client_nonce, std::string_view user = {});

    // Fails only when the password cannot be prepared (see prepare_password).
    [[nodiscard]] expected<std::string, error> client_first();
    [[nodiscard]] expected<std::string, error> on_server_first(std::string_view message);
    [[nodiscard]] expected<void, error> on_server_final(std::string_view message);

private:
    enum class step { client_first, server_first, server_final, done };
    std::string password_;
    std::string client_nonce_;
    std::string user_;
    step step_ = step::client_first;
    std::string client_first_bare_;
    std::string auth_message_;
    std::array<std::uint8_t, 32> server_key_{};
};

}  // namespace pgsieve::wire::scram
