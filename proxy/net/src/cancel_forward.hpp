#pragma once
// Sends a CancelRequest on a new connection and waits, as libpq's PQcancel
// does, until the receiver has acted on it (it closes the connection).

#include "asio.hpp"

#include <pgsieve/wire/frontend.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace pgsieve::net {

// False when the receiver could not be reached within `limit` (connect,
// write and the wait for its close together). `endpoints`: the first that
// accepts gets it.
awaitable<bool> send_cancel(std::vector<tcp::endpoint> endpoints, wire::cancel_request request,
                            std::chrono::steady_clock::duration limit = std::chrono::seconds(5));

// Every address `host` resolves to (empty when it does not resolve).
awaitable<std::vector<tcp::endpoint>> resolve_all(const std::string& host, std::uint16_t port);

}  // namespace pgsieve::net
