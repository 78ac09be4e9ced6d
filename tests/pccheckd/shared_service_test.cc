// pccheckd as a service shared by the users and processes of a node: one live
// session per job and rank, names checked at the handshake, and peers that
// never get past the handshake (refused users, oversized first frames) cost
// the daemon neither threads nor memory.
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "catch.h"
#include "ipc/socket.h"
#include "proto/wire.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/watchdog.h"
#include "test_trainer.h"

namespace pccheck::testing {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

bool Has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A field of /proc/<pid>/status ("Threads", "VmRSS" in kB), or -1.
long ProcStatus(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

// The daemon's reply to a first frame, or its status when none came.
std::string FirstReply(UnixSocket& socket) {
  auto frame = socket.Receive(10'000);
  if (!frame.ok()) return "no reply: " + frame.status().ToString();
  if (frame->type != wire::MsgType::kError) return "not an error reply";
  auto e = wire::DecodeErrorReply(frame->payload);
  return e.ok() ? e->message : "bad error reply";
}

TEST_CASE("a second live session for a job and rank is refused, naming the holder's pid",
          "[daemon][security]") {
  Watchdog watchdog(60);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  auto first = TestTrainer::Open(daemon.socket(), "job", 3, 1u << 16);
  REQUIRE(first.status().ToString() == "Ok");
  REQUIRE((*first)->client().Wait((*first)->Step(1).value(), 30'000).ToString() == "Ok");

  auto second = Client::Connect({daemon.socket(), "job", 3});
  REQUIRE_FALSE(second.ok());
  INFO(second.status().ToString());
  CHECK(second.status().code() == Code::kBusy);
  CHECK(Has(second.status().message(), "job job rank 3"));
  CHECK(Has(second.status().message(), "pid " + std::to_string(getpid())));
  // Another rank of the job, and the same rank of another job, are served.
  CHECK(Client::Connect({daemon.socket(), "job", 4}).ok());
  CHECK(Client::Connect({daemon.socket(), "other", 3}).ok());
  // The holder's saves were never touched.
  REQUIRE((*first)->client().Wait((*first)->Step(2).value(), 30'000).ToString() == "Ok");
  CHECK((*first)->RestoreAndCheck(2).status().ToString() == "Ok");
}

TEST_CASE("a trainer takes over a job and rank whose holder is gone", "[daemon][security]") {
  Watchdog watchdog(60);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  SECTION("the holder closed its connection") {
    auto first = TestTrainer::Open(daemon.socket(), "job", 0, 1u << 16);
    REQUIRE(first.status().ToString() == "Ok");
    REQUIRE((*first)->client().Wait((*first)->Step(1).value(), 30'000).ToString() == "Ok");
    first->reset();
  }
  SECTION("the holder was killed") {
    ChildProcess holder([&](int out) {
      auto t = TestTrainer::Open(daemon.socket(), "job", 0, 1u << 16);
      if (!t.ok() || !(*t)->client().Wait((*t)->Step(1).value(), 30'000).ok()) return 1;
      (void)!write(out, "ready\n", 6);
      pause();
      return 0;
    });
    watchdog.Guard(holder.pid());
    REQUIRE(holder.ReadLine(30'000) == std::optional<std::string>("ready"));
    holder.Kill();
  }
  // Right away, before the daemon may have noticed the holder's end.
  auto next = TestTrainer::Open(daemon.socket(), "job", 0, 1u << 16);
  REQUIRE(next.status().ToString() == "Ok");
  REQUIRE((*next)->client().Wait((*next)->Step(2).value(), 30'000).ToString() == "Ok");
  CHECK((*next)->RestoreAndCheck(2).status().ToString() == "Ok");
}

TEST_CASE("a job name the store would refuse is refused at the handshake", "[daemon][security]") {
  Watchdog watchdog(60);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  for (const std::string& job : {std::string(300, 'j'), std::string("../etc"), std::string(".x")}) {
    auto c = Client::Connect({daemon.socket(), job, 0});
    REQUIRE_FALSE(c.ok());
    INFO(c.status().ToString());
    CHECK(c.status().code() == Code::kInvalidArgument);
    CHECK(Has(c.status().message(), "is not 1-128 characters"));
    CHECK_FALSE(Has(c.status().message(), "memfd"));
  }
  CHECK(Client::Connect({daemon.socket(), "fine", 0}).ok());
}

TEST_CASE("a first frame larger than the handshake allows is refused before it is read",
          "[daemon][security]") {
  Watchdog watchdog(60);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  const long rss_before_kb = ProcStatus(daemon.pid(), "VmRSS");
  REQUIRE(rss_before_kb > 0);
  // 60 peers each announce a 64 MiB Hello and push what the socket takes.
  std::vector<UnixSocket> peers;
  const std::string header = wire::EncodeFrameHeader({wire::kMaxFrameBytes, wire::MsgType::kHello});
  const std::string filler(1u << 20, 'x');
  for (int i = 0; i < 60; ++i) {
    auto s = UnixSocket::Connect(daemon.socket());
    REQUIRE(s.ok());
    REQUIRE(send(s->fd(), header.data(), header.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(header.size()));
    (void)send(s->fd(), filler.data(), filler.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    peers.push_back(std::move(s).value());
  }
  for (auto& p : peers) {
    const std::string reply = FirstReply(p);
    INFO(reply);
    CHECK(Has(reply, "exceeds the " + std::to_string(wire::kMaxFirstFrameBytes) + "-byte limit"));
  }
  const long rss_after_kb = ProcStatus(daemon.pid(), "VmRSS");
  INFO("daemon RSS " << rss_before_kb << " kB before, " << rss_after_kb << " kB after");
  CHECK(rss_after_kb < rss_before_kb + 32 * 1024);  // not 60 x 64 MiB, not even 60 x 1 MiB
  CHECK(Client::Connect({daemon.socket(), "after", 0}).ok());
}

TEST_CASE("a refused uid's connections start no thread and are answered at once",
          "[daemon][security]") {
  if (geteuid() != 0) {
    std::cout << "SKIP a refused uid's connections start no thread and are answered at once: "
                 "needs root (to connect as nobody); CI runs it as root\n";
    return;
  }
  Watchdog watchdog(90);
  std::string dir = "/tmp/pccheck-flood-XXXXXX";
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  REQUIRE(chmod(dir.c_str(), 0711) == 0);
  Daemon daemon({"--socket-mode", "0666"}, dir + "/pccheckd.sock");
  daemon.Start();
  watchdog.Guard(daemon.pid());
  const long threads_before = ProcStatus(daemon.pid(), "Threads");
  // nobody opens 400 connections, says nothing, and reports what came back.
  ChildProcess flood([&](int out) {
    if (setgroups(0, nullptr) != 0 || setgid(kNogroup) != 0 || setuid(kNobody) != 0) return 1;
    std::vector<UnixSocket> held;
    int refused = 0;
    for (int i = 0; i < 400; ++i) {
      auto s = UnixSocket::Connect(daemon.socket());
      if (!s.ok()) continue;
      if (Has(FirstReply(*s), "may not use pccheckd")) ++refused;
      held.push_back(std::move(s).value());
    }
    const std::string line = std::to_string(refused) + "\n";
    (void)!write(out, line.data(), line.size());
    pause();  // keeps the connections open until killed
    return 0;
  });
  watchdog.Guard(flood.pid());
  auto line = flood.ReadLine(60'000);
  REQUIRE(line.has_value());
  CHECK(*line == "400");
  const long threads_during = ProcStatus(daemon.pid(), "Threads");
  INFO("daemon threads: " << threads_before << " before, " << threads_during
                          << " with 400 refused connections open");
  CHECK(threads_during <= threads_before + 2);
  // The daemon serves its own users all along.
  auto t = TestTrainer::Open(daemon.socket(), "owner", 0, 1u << 16);
  REQUIRE(t.status().ToString() == "Ok");
  CHECK((*t)->client().Wait((*t)->Step(1).value(), 30'000).ToString() == "Ok");
  flood.Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace pccheck::testing
