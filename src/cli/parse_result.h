// ParseResult<T>: a value parsed from what a person typed (command line, config file), or one
// line saying what is wrong and how to fix it.
//
// Result<T> carries a std::error_code, which is right for system failures but cannot say
// "export e0.1 is listed twice; give each export its own shelf.slot". Parsers here return this
// instead, and the subcommand prints the message once, prefixed with its name.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace aoe::cli {

// Wraps a message so that `return ParseError{"..."};` converts to any ParseResult<T>.
struct ParseError {
  std::string message;
};

template <typename T>
class [[nodiscard]] ParseResult {
 public:
  ParseResult(T value) : v_(std::move(value)) {}   // NOLINT(google-explicit-constructor)
  ParseResult(ParseError e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)

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
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const std::string& error() const {
    assert(!has_value());
    return std::get<1>(v_).message;
  }

 private:
  std::variant<T, ParseError> v_;
};

}  // namespace aoe::cli
