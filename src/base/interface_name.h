// InterfaceNameProblem: whether a string can name a Linux network interface, by the kernel's
// own rule (dev_valid_name): 1 to 15 characters, not "." or "..", no '/', ':' or white space.
// A name that fails can never match an interface; one that passes may still not exist.
#pragma once

#include <string>
#include <string_view>

namespace aoe {

// What is wrong with `name` as an interface name (e.g. "is empty", "has a ':'"), or "" when
// it could be one. The caller adds where the name came from.
std::string InterfaceNameProblem(std::string_view name);

}  // namespace aoe
