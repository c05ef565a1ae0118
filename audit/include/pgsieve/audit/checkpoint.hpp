#pragma once
// Signed checkpoints of the hash chain's head: every audit.checkpoint_interval
// the sink writes a chain_checkpoint event whose detail carries the newest
// statement's id and hash and an HMAC-SHA-256 of them under the configured
// key. The events ship with the rows; `audit verify --key-env` checks that
// each checkpoint is signed with the key and that the statement it names
// still has the hash it signed. Someone who rewrites or truncates the file
// (and the copy in a central store) cannot re-sign without the key.

#include <cstdint>
#include <string>
#include <string_view>

namespace pgsieve::audit {

inline constexpr std::string_view checkpoint_event = "chain_checkpoint";

// The signature: hex HMAC-SHA-256 over the instance, the id and the hash.
std::string checkpoint_mac(std::string_view key, std::string_view instance, std::int64_t last_id,
                           std::string_view last_hash);
// A chain_checkpoint event's detail (JSON), signed.
std::string checkpoint_detail(std::string_view key, std::string_view instance, std::int64_t last_id,
                              std::string_view last_hash);

}  // namespace pgsieve::audit
