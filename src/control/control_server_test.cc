#include "control/control_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include "control/control_client.h"

namespace aoe::control {
namespace {

using std::chrono::milliseconds;

// Answers "echo" at once with its args, "later" on the next Flush(), anything else with an
// error.
class TestHandler final : public ControlHandler {
 public:
  void Handle(const Request& request, Responder responder) override {
    if (request.command == "echo") return responder.Ok(request.args);
    if (request.command == "later") {
      pending_.push_back(responder);
      return;
    }
    responder.Fail(errc::kUnknownCommand, "no such command");
  }
  void Flush() {
    for (auto& r : pending_) r.Ok(Json{{"late", true}});
    pending_.clear();
  }
  size_t pending() const { return pending_.size(); }

 private:
  std::vector<Responder> pending_;
};

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop);
    loop_.emplace(std::move(*loop));
    path_ = ::testing::TempDir() + "/aoe_control_test_" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
  }
  void TearDown() override {
    server_.reset();
    ::unlink(path_.c_str());
  }
  void Start(milliseconds idle_limit = ControlServer::kIdleLimit) {
    std::string why;
    auto server = ControlServer::Create(path_, *loop_, log_, handler_, why, idle_limit);
    ASSERT_TRUE(server) << why;
    server_ = std::move(*server);
  }
  // Runs a client call on a thread while this thread turns the loop.
  Json CallAndServe(const Json& request, std::function<void()> between = {}) {
    std::atomic<bool> done{false};
    Result<Json> result = Errno(EINVAL);
    std::string why;
    std::thread client([&] {
      result = Call(path_, request, milliseconds(5000), why);
      done = true;
    });
    for (int i = 0; i < 500 && !done; ++i) {
      (void)loop_->RunOnce(milliseconds(10));
      if (between) between();
    }
    client.join();
    EXPECT_TRUE(result) << why;
    return result ? *result : Json();
  }
  // Sends raw bytes and collects what comes back until the server closes or `lines` arrived.
  std::string Raw(const std::string& bytes, size_t lines) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string out;
    size_t sent = 0;
    bool closed = false;
    for (int i = 0; i < 500 && !closed &&
                    static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) < lines;
         ++i) {
      if (sent < bytes.size()) {
        ssize_t n =
            ::send(fd.get(), bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) sent += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN) closed = true;
      }
      (void)loop_->RunOnce(milliseconds(5));
      char chunk[4096];
      ssize_t n = ::recv(fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0) out.append(chunk, static_cast<size_t>(n));
      if (n == 0) closed = true;
    }
    return out;
  }

  Logger log_{LogLevel::kError};
  std::optional<EventLoop> loop_;
  TestHandler handler_;
  std::string path_;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, AnswersARequestAndEchoesItsId) {
  Start();
  Json r = CallAndServe({{"id", 3}, {"command", "echo"}, {"args", {{"x", 1}}}});
  EXPECT_EQ(r, (Json{{"id", 3}, {"ok", true}, {"result", {{"x", 1}}}}));
  Json bad = CallAndServe({{"command", "nope"}});
  EXPECT_EQ(bad["ok"], false);
  EXPECT_EQ(bad["error"]["code"], "unknown-command");
}

TEST_F(ControlServerTest, TheSocketIsForItsOwnerOnly) {
  Start();
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST_F(ControlServerTest, MalformedJsonGetsAnErrorAndTheConnectionGoesOn) {
  Start();
  std::string out = Raw("{oops\n{\"id\":1,\"command\":\"echo\"}\n", 2);
  EXPECT_EQ(out,
            "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"bad-json\",\"message\":\"the "
            "request is not valid JSON; send one JSON object per line\"}}\n"
            "{\"id\":1,\"ok\":true,\"result\":{}}\n");
}

TEST_F(ControlServerTest, AnOversizeRequestIsRefusedAndTheConnectionClosed) {
  Start();
  std::string huge =
      "{\"command\":\"echo\",\"args\":{\"x\":\"" + std::string(kMaxRequestBytes, 'a') + "\"}}\n";
  std::string out = Raw(huge, 5);
  EXPECT_NE(out.find("\"code\":\"request-too-large\""), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "nothing after the refusal";
}

TEST_F(ControlServerTest, ALaterAnswerArrivesWhenTheHandlerGivesIt) {
  Start();
  bool flushed = false;
  Json r = CallAndServe({{"command", "later"}}, [&] {
    if (!flushed && handler_.pending() > 0) {
      handler_.Flush();
      flushed = true;
    }
  });
  EXPECT_EQ(r["result"]["late"], true);
}

TEST_F(ControlServerTest, AnAnswerForAClientThatLeftIsDropped) {
  Start();
  (void)Raw("{\"command\":\"later\"}\n", 0);
  for (int i = 0; i < 10; ++i) (void)loop_->RunOnce(milliseconds(5));
  handler_.Flush();  // must not crash or write anywhere
}

// Clients that connect and go quiet must not lock `aoe ctl` out: with every place taken, a new
// client gets the place of the one quiet longest, once it has been quiet for the limit.
TEST_F(ControlServerTest, QuietClientsMakeRoomWhenEveryPlaceIsTaken) {
  for (milliseconds limit : {milliseconds(0), milliseconds(3600 * 1000)}) {
    SCOPED_TRACE(limit.count());
    Start(limit);
    std::vector<UniqueFd> quiet;
    for (size_t i = 0; i < ControlServer::kMaxConnections; ++i) {
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strcpy(a.sun_path, path_.c_str());
      ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
      quiet.push_back(std::move(fd));
      (void)loop_->RunOnce(milliseconds(10));
    }
    const std::string answer = Raw(R"({"command":"echo","args":{"x":1}})"
                                   "\n",
                                   1);
    if (limit.count() == 0) {
      EXPECT_NE(answer.find(R"("ok":true)"), std::string::npos) << answer;
    } else {
      EXPECT_EQ(answer, "") << "a client quiet for less than the limit keeps its place";
    }
    server_.reset();
    ::unlink(path_.c_str());
  }
}

TEST_F(ControlServerTest, AStaleSocketIsReplacedALiveOneIsNot) {
  Start();
  server_.reset();
  // Leave a dead socket file behind, as a killed aoe serve does.
  {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  Start();
  std::string why;
  TestHandler other;
  auto second = ControlServer::Create(path_, *loop_, log_, other, why);
  ASSERT_FALSE(second);
  EXPECT_NE(why.find("in use by another aoe serve"), std::string::npos) << why;
}

TEST_F(ControlServerTest, AFileThatIsNotASocketIsNeverRemoved) {
  { std::ofstream(path_) << "precious"; }
  std::string why;
  auto server = ControlServer::Create(path_, *loop_, log_, handler_, why);
  ASSERT_FALSE(server);
  EXPECT_NE(why.find("is not a socket"), std::string::npos);
  std::ifstream in(path_);
  std::string text;
  in >> text;
  EXPECT_EQ(text, "precious");
}

TEST_F(ControlServerTest, TheSocketGoesAwayWithTheServer) {
  Start();
  server_.reset();
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace aoe::control
