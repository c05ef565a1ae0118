#pragma once
// RFC 5802 §3 key derivation, shared by verifier generation and the client.

#include "crypto.hpp"

namespace pgsieve::wire::scram {

struct derived_keys {
    crypto::digest client_key;
    crypto::digest stored_key;
    crypto::digest server_key;
};

// `password` must already be prepared (see prepare_password).
inline derived_keys derive_keys(std::string_view password, std::string_view salt, int iterations) {
    const auto salted = crypto::pbkdf2_sha256(password, salt, iterations);
    derived_keys k;
    k.client_key = crypto::hmac_sha256(salted, "Client Key");
    k.stored_key = crypto::sha256(k.client_key);
    k.server_key = crypto::hmac_sha256(salted, "Server Key");
    return k;
}

}  // namespace pgsieve::wire::scram
