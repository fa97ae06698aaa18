// Result<T>: a value or a std::error_code, with the std::expected API subset we use.
//
// g++ 12 has no std::expected in C++20. System failures travel as Result<T> to the edge
// (CLI or daemon main), where they are reported once with context. Untrusted input never
// produces a Result error: it gets the AoE/ATA answer the spec calls for, or is dropped.
#pragma once

#include <cassert>
#include <cerrno>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace aoe {

// Wraps an error so that `return Unexpected(ec);` converts to any Result<T>.
struct Unexpected {
  std::error_code error;
};

inline Unexpected Errno(int err = errno) { return {std::error_code(err, std::system_category())}; }
inline Unexpected Err(std::errc e) { return {std::make_error_code(e)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Unexpected e) : v_(e.error) {}      // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const std::error_code& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }
  template <typename U>
  T value_or(U&& fallback) const {
    return has_value() ? value() : T(std::forward<U>(fallback));
  }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected e) : error_(e.error) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return !error_; }
  explicit operator bool() const { return has_value(); }
  void value() const { assert(has_value()); }
  const std::error_code& error() const {
    assert(!has_value());
    return error_;
  }

 private:
  std::error_code error_;
};

// Propagates the error of a Result expression out of the current function.
#define AOE_TRY(expr)                                                                          \
  do {                                                                                         \
    if (auto&& aoe_try_r_ = (expr); !aoe_try_r_) return ::aoe::Unexpected{aoe_try_r_.error()}; \
  } while (0)

}  // namespace aoe
