#include "control/control_protocol.h"

#include <gtest/gtest.h>

namespace aoe::control {
namespace {

std::optional<Request> Parse(std::string_view line, ControlError& error) {
  Json id;
  return ParseRequest(line, error, id);
}

TEST(ControlProtocol, ParsesARequest) {
  ControlError error;
  auto r = Parse(R"({"id": 7, "command": "overlay.reset", "args": {"export": "e0.1"}})", error);
  ASSERT_TRUE(r) << error.message;
  EXPECT_EQ(r->id, 7);
  EXPECT_EQ(r->command, "overlay.reset");
  EXPECT_EQ(r->args["export"], "e0.1");
  auto bare = Parse(R"({"command": "exports"})", error);
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->id.is_null());
  EXPECT_TRUE(bare->args.empty());
}

TEST(ControlProtocol, MalformedRequestsAreRefusedWithACode) {
  struct Case {
    std::string_view line;
    std::string_view code;
  };
  for (const Case& c :
       {Case{"{not json", errc::kBadJson}, Case{"[1, 2]", errc::kBadRequest},
        Case{R"({"args": {}})", errc::kBadRequest}, Case{R"({"command": 5})", errc::kBadRequest},
        Case{R"({"command": ""})", errc::kBadRequest},
        Case{R"({"command": "exports", "args": [1]})", errc::kBadRequest},
        Case{R"({"command": "exports", "verb": "x"})", errc::kBadRequest}}) {
    ControlError error;
    EXPECT_FALSE(Parse(c.line, error)) << c.line;
    EXPECT_EQ(error.code, c.code) << c.line;
    EXPECT_FALSE(error.message.empty());
  }
}

TEST(ControlProtocol, TheIdOfABadRequestIsEchoedWhenReadable) {
  ControlError error;
  Json id;
  EXPECT_FALSE(ParseRequest(R"({"id": "x1", "command": 3})", error, id));
  EXPECT_EQ(id, "x1");
  EXPECT_EQ(ErrorLine(id, error),
            R"({"id":"x1","ok":false,"error":{"code":"bad-request","message":"the request needs )"
            R"(\"command\": a string such as \"exports\""}})"
            "\n");
}

TEST(ControlProtocol, ArgumentsAreCheckedByName) {
  ControlError error;
  auto r = Parse(R"({"command": "overlay.show", "args": {"export": "e0.1", "size": 1}})", error);
  ASSERT_TRUE(r);
  auto missing = CheckArguments(*r, {"export", "mac"});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->code, errc::kBadArgument);
  EXPECT_EQ(missing->message, "overlay.show needs the argument \"mac\" (it takes: export, mac)");
  auto unknown = CheckArguments(*r, {"export"}, {"mac"});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->message,
            "overlay.show has no argument \"size\" (it takes: export; optional: mac)");
  EXPECT_FALSE(CheckArguments(*r, {"export", "size"}));
}

TEST(ControlProtocol, TypedArguments) {
  ControlError error;
  auto r = Parse(R"({"command": "c", "args": {"export": 1, "mac": "ff:ff:ff:ff:ff:ff",
                  "good": "52:54:00:00:00:01"}})",
                 error);
  ASSERT_TRUE(r);
  std::string text;
  EXPECT_TRUE(StringArg(*r, "export", text));
  MacAddress mac;
  EXPECT_TRUE(MacArg(*r, "mac", mac)) << "broadcast is no initiator";
  EXPECT_FALSE(MacArg(*r, "good", mac));
  EXPECT_EQ(mac.ToString(), "52:54:00:00:00:01");
}

TEST(ControlProtocol, AResponseIsWellFormedOnlyInTheShapeTheServerGivesIt) {
  EXPECT_TRUE(WellFormedResponse(Json::parse(SuccessLine(1, Json{{"exports", Json::array()}}))));
  EXPECT_TRUE(WellFormedResponse(Json::parse(ErrorLine(1, {"bad_argument", "no such export"}))));
  for (const char* bad : {R"({"ok":true})", R"({"ok":false,"error":"text"})",
                          R"({"ok":false,"error":{"code":1,"message":"m"}})",
                          R"({"ok":false,"error":{"code":"c"}})", R"({"ok":"yes","result":{}})",
                          R"([1])", R"("ok")"}) {
    EXPECT_FALSE(WellFormedResponse(Json::parse(bad))) << bad;
  }
}

}  // namespace
}  // namespace aoe::control
