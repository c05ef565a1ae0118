// pgsieve passwd NAME: the verifier a `clients:` entry stores, so the proxy
// never holds a client's password.

#include "commands.hpp"

#include <pgsieve/wire/scram.hpp>

#include <fmt/format.h>

#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>

namespace pgsieve::cli {

namespace {

// Turns terminal echo off for its lifetime, so a typed password is not shown.
class echo_off {
public:
    echo_off() {
        if (tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios quiet = saved_;
            quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
            active_ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    ~echo_off() {
        if (active_) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    }
    echo_off(const echo_off&) = delete;
    echo_off& operator=(const echo_off&) = delete;

private:
    termios saved_{};
    bool active_ = false;
};

std::optional<std::string> read_line(std::istream& in) {
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::optional<std::string> prompt(const std::string& text) {
    std::cerr << text << std::flush;
    echo_off quiet;
    auto line = read_line(std::cin);
    std::cerr << "\n";
    return line;
}

}  // namespace

int run_passwd(const passwd_options& options) {
    std::optional<std::string> password;
    if (isatty(STDIN_FILENO)) {
        password = prompt(fmt::format("Password for {}: ", options.name));
        const auto again = prompt("Again: ");
        if (password && again && *password != *again) {
            std::cerr << "pgsieve passwd: the passwords differ\n";
            return exit_usage;
        }
    } else {
        password = read_line(std::cin);
    }
    if (!password || password->empty()) {
        std::cerr << "pgsieve passwd: no password on standard input\n";
        return exit_usage;
    }

    const auto verifier = wire::scram::generate_verifier(*password, options.iterations);
    if (!verifier) {
        std::cerr << "pgsieve passwd: " << verifier.error().detail << "\n";
        return exit_usage;
    }
    std::cout << wire::scram::to_string(*verifier) << "\n";
    if (isatty(STDOUT_FILENO))
        std::cerr << fmt::format("(in pgsieve.yaml: clients: - name: {}  password: \"<the line above>\")\n", options.name);
    return exit_ok;
}

}  // namespace pgsieve::cli
