#pragma once
// The one place Boost.Asio is included from; GCC 12 needs <utility> first.

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>

namespace pgsieve::net {
namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using error_code = boost::system::error_code;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace pgsieve::net
