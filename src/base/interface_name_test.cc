#include "base/interface_name.h"

#include <gtest/gtest.h>

namespace aoe {
namespace {

TEST(InterfaceNameProblem, NamesTheKernelTakes) {
  for (const char* name : {"eth0", "enp1s0", "vt", "a", "veth-0.100", "fifteen-chars15"}) {
    EXPECT_EQ(InterfaceNameProblem(name), "") << name;
  }
}

TEST(InterfaceNameProblem, NamesNoInterfaceCanHave) {
  EXPECT_EQ(InterfaceNameProblem(""), "is empty; name an interface such as eth0");
  EXPECT_EQ(InterfaceNameProblem("sixteen-chars-16"),
            "is longer than 15 characters; check the name with 'ip link'");
  EXPECT_EQ(InterfaceNameProblem(".."), "is not an interface name; check it with 'ip link'");
  EXPECT_EQ(InterfaceNameProblem("v1:v0"),
            "has a ':', which no interface name has; check it with 'ip link'");
  EXPECT_EQ(InterfaceNameProblem("a/b"),
            "has a '/', which no interface name has; check it with 'ip link'");
  EXPECT_EQ(InterfaceNameProblem("eth 0"),
            "has white space, which no interface name has; check it with 'ip link'");
}

}  // namespace
}  // namespace aoe
