#pragma once
// A minimal stand-in for C++23's std::expected, which g++ 12 in C++20 mode
// lacks. Only the subset pgsieve uses; swap for std::expected when the
// toolchain moves to C++23 (the names and semantics match).

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace pgsieve {

template <class E>
class unexpected {
public:
    explicit unexpected(E e) : error_(std::move(e)) {}
    E& error() & { return error_; }
    E&& error() && { return std::move(error_); }

private:
    E error_;
};

template <class T, class E>
class [[nodiscard]] expected {
public:
    expected() requires std::is_default_constructible_v<T> : v_(std::in_place_index<0>) {}
    expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    template <class G>
    expected(unexpected<G> u) : v_(std::in_place_index<1>, std::move(u).error()) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { assert(has_value()); return std::get<0>(v_); }
    const T& value() const& { assert(has_value()); return std::get<0>(v_); }
    T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const& { assert(!has_value()); return std::get<1>(v_); }
    E&& error() && { assert(!has_value()); return std::get<1>(std::move(v_)); }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] expected<void, E> {
public:
    expected() = default;
    template <class G>
    expected(unexpected<G> u) : error_(std::move(u).error()), ok_(false) {}

    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    void value() const { assert(ok_); }
    const E& error() const& { assert(!ok_); return error_; }

private:
    E error_{};
    bool ok_ = true;
};

}  // namespace pgsieve
