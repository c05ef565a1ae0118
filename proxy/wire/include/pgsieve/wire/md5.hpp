#pragma once
// PostgreSQL's MD5 password response, for upstream servers that still ask
// for it: "md5" + md5(md5(password + user) + salt).

#include <string>
#include <string_view>

namespace pgsieve::wire {

[[nodiscard]] std::string md5_password_response(std::string_view user, std::string_view password,
                                                std::string_view salt);

}  // namespace pgsieve::wire
