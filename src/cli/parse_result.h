// ParseResult<T>: a value parsed from what a person typed (command line, config file), or one
// line saying what is wrong and how to fix it.
//
// Result<T> carries a std::error_code, which is right for system failures but cannot say
// "export e0.1 is listed twice; give each export its own shelf.slot". Parsers here return this
// instead (the same Expected, base/result.h, with a ParseError), and the subcommand prints
// error().message once, prefixed with its name.
#pragma once

#include <string>

#include "base/result.h"

namespace aoe::cli {

// Wraps a message so that `return ParseError{"..."};` converts to any ParseResult<T>.
struct ParseError {
  std::string message;
};

template <typename T>
using ParseResult = Expected<T, ParseError>;

}  // namespace aoe::cli
