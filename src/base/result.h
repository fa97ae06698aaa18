// Result<T>: a value or a std::error_code (Expected<T, std::error_code>, below). System failures
// travel as Result<T> to the edge (CLI or daemon main), where they are reported once with context.
// Untrusted input never produces a Result error: it gets the AoE/ATA answer the spec calls for, or
// is dropped.
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

// Expected<T, E>: a value or an error E; the subset of C++23's std::expected this code uses
// (g++ 12 has none in C++20). The one mechanism behind the three kinds of result, which differ
// only in what the error says:
// - Result<T> = Expected<T, std::error_code> (below): system failures;
// - cli::ParseResult<T> = Expected<T, ParseError>: what a person typed, with a one-line message;
// - initiator::Outcome<T> = Expected<T, Error>: a code plus a message naming the disk and the
//   interface.
// `return Errno();` (an Unexpected) converts to any of them whose error can be made from a
// std::error_code.
template <typename T, typename E>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
  template <typename U = E,
            typename = std::enable_if_t<std::is_constructible_v<U, std::error_code>>>
  Expected(Unexpected e) : v_(std::in_place_index<1>, U(e.error)) {}  // NOLINT

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

  const E& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }
  template <typename U>
  T value_or(U&& fallback) const {
    return has_value() ? value() : T(std::forward<U>(fallback));
  }

 private:
  std::variant<T, E> v_;
};

template <typename E>
class [[nodiscard]] Expected<void, E> {
 public:
  Expected() = default;
  Expected(E error) : error_(std::move(error)), failed_(true) {}  // NOLINT
  template <typename U = E,
            typename = std::enable_if_t<std::is_constructible_v<U, std::error_code>>>
  Expected(Unexpected e) : error_(U(e.error)), failed_(true) {}  // NOLINT

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }
  void value() const { assert(has_value()); }
  const E& error() const {
    assert(!has_value());
    return error_;
  }

 private:
  // A plain member and a flag, not std::optional<E>: GCC's -O1 takes optionals in some
  // callers for maybe-uninitialized, which -Werror (the sanitizer builds) turns into errors.
  E error_{};
  bool failed_ = false;
};

template <typename T>
using Result = Expected<T, std::error_code>;

// Propagates the error of a Result expression out of the current function.
#define AOE_TRY(expr)                                                                          \
  do {                                                                                         \
    if (auto&& aoe_try_r_ = (expr); !aoe_try_r_) return ::aoe::Unexpected{aoe_try_r_.error()}; \
  } while (0)

}  // namespace aoe
