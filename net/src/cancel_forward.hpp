#pragma once
// Sends a CancelRequest on a new connection and waits, as libpq's PQcancel
// does, until the receiver has acted on it (it closes the connection).

#include "asio.hpp"

#include <pgsieve/wire/frontend.hpp>

#include <chrono>
#include <string>

namespace pgsieve::net {

// False when the receiver could not be reached within `limit` (connect,
// write and the wait for its close together).
awaitable<bool> send_cancel(std::string host, std::uint16_t port, wire::cancel_request request,
                            std::chrono::steady_clock::duration limit = std::chrono::seconds(5));

}  // namespace pgsieve::net
