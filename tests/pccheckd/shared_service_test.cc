// pccheckd as a service shared by the users and processes of a node: one live
// session per job and rank, names checked at the handshake, and peers that
// never get past the handshake (refused users, oversized first frames) cost
// the daemon neither threads nor memory.
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
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
#include "proto/store_wire.h"
#include "proto/wire.h"
#include "support/child_process.h"
#include "support/daemon.h"
#include "support/run_program.h"
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

// A store request's reply as one line: "error: <message>", or the reply's
// type for any other answer.
std::string StoreReply(const std::string& socket, wire::MsgType type, const std::string& payload) {
  auto s = UnixSocket::Connect(socket);
  if (!s.ok()) return "no connection: " + s.status().ToString();
  if (Status sent = s->Send(type, payload); !sent.ok()) return "not sent: " + sent.ToString();
  for (;;) {
    auto frame = s->Receive(30'000);
    if (!frame.ok()) return "no reply: " + frame.status().ToString();
    if (frame->type == wire::MsgType::kVerifyProgress) continue;
    if (frame->type == wire::MsgType::kError) {
      auto e = wire::DecodeErrorReply(frame->payload);
      return e.ok() ? "error: " + e->message : "bad error reply";
    }
    return "reply " + std::to_string(static_cast<int>(frame->type));
  }
}

// Runs `body` in a child process as uid:gid with no supplementary groups.
ChildProcess As(uid_t uid, gid_t gid, const std::function<void(int out)>& body) {
  return ChildProcess([=](int out) {
    if (setgroups(0, nullptr) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      return Fail(out, "cannot become uid " + std::to_string(uid));
    }
    body(out);
    return 0;
  });
}

// The jobs of a `pccheck list --json` document, one per checkpoint.
std::string JobsListed(const CliRun& run) {
  auto doc = ParseJson(run.out);
  if (run.exit_code != 0 || !doc.ok()) return "list failed: " + run.err;
  std::string jobs;
  for (const auto& c : doc->items()) jobs += c["job"].AsString() + " ";
  return jobs;
}

TEST_CASE(
    "a job belongs to its owner: other users can neither save, restore, list, verify "
    "nor prune it",
    "[daemon][security]") {
  if (geteuid() != 0) {
    std::cout << "SKIP a job belongs to its owner: other users can neither save, restore, list, "
                 "verify nor prune it: needs root (to connect as other users); CI runs it as "
                 "root\n";
    return;
  }
  constexpr uid_t kAlice = 60001, kBob = 60002, kAdmin = 60003;
  constexpr gid_t kAdmins = 60100;
  Watchdog watchdog(120);
  std::string dir = "/tmp/pccheck-owners-XXXXXX";
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  REQUIRE(chmod(dir.c_str(), 0711) == 0);
  Daemon daemon({"--socket-mode", "0666", "--allow-uid", "60001,60002,60003", "--admin-group",
                 std::to_string(kAdmins), "--keep-every", "1"},
                dir + "/pccheckd.sock");
  daemon.Start();
  watchdog.Guard(daemon.pid());
  const std::string socket = daemon.socket();
  auto run = [&](uid_t uid, gid_t gid, const std::function<void(int)>& body) {
    ChildProcess child = As(uid, gid, body);
    watchdog.Guard(child.pid());
    std::vector<std::string> lines;
    REQUIRE(child.ReadAll(&lines, 90'000));
    REQUIRE(ExitedOk(child.Wait(10'000)));
    return lines;
  };
  // Alice saves steps 1..5 of her job; retention keeps the ones the ring drops.
  auto alice = run(kAlice, kAlice, [&](int out) {
    auto t = TestTrainer::Open(socket, "alice-job", 0, 1u << 16);
    if (!t.ok()) return Report(out, "open: " + t.status().ToString());
    for (uint64_t step = 1; step <= 5; ++step) {
      auto ticket = (*t)->Step(step);
      if (!ticket.ok() || !(*t)->client().Wait(*ticket, 30'000).ok()) {
        return Report(out, "step " + std::to_string(step) + " failed");
      }
    }
    Report(out, "saved");
  });
  REQUIRE(alice == std::vector<std::string>{"saved"});
  const std::string owner_file = daemon.root() + "/alice-job/owner";
  std::ifstream in(owner_file);
  std::string owner;
  std::getline(in, owner);
  CHECK(owner == "60001");

  auto bob = run(kBob, kBob, [&](int out) {
    auto own = TestTrainer::Open(socket, "bob-job", 0, 1u << 16);
    Report(out, own.ok() && (*own)->client().Wait((*own)->Step(1).value(), 30'000).ok()
                    ? "own job saved"
                    : "own job failed");
    for (uint32_t rank : {0u, 7u}) {
      auto c = Client::Connect({socket, "alice-job", rank});
      Report(out, c.ok() ? "connected" : c.status().ToString());
    }
    Report(out, "list: " + JobsListed(RunPccheck({"list", "--socket", socket, "--json"})));
    Report(out, "verify: " + StoreReply(socket, wire::MsgType::kVerify,
                                        wire::Encode(wire::Verify{"alice-job", 0, 5})));
    wire::Prune prune;
    prune.job = "alice-job";
    Report(out, "prune job: " + StoreReply(socket, wire::MsgType::kPrune, wire::Encode(prune)));
    prune.job.reset();
    Report(out, "prune all: " + StoreReply(socket, wire::MsgType::kPrune, wire::Encode(prune)));
  });
  REQUIRE(bob.size() == 7);
  CHECK(bob[0] == "own job saved");
  for (int i : {1, 2}) {
    INFO(bob[i]);
    CHECK(Has(bob[i], "PermissionDenied"));
    CHECK(Has(bob[i], "job alice-job belongs to uid 60001"));
    CHECK(Has(bob[i], "uid 60002 may not save, restore, list, verify or prune it"));
  }
  CHECK(bob[3] == "list: bob-job ");
  CHECK(Has(bob[4], "error: job alice-job belongs to uid 60001"));
  CHECK(Has(bob[5], "error: job alice-job belongs to uid 60001"));
  CHECK(bob[6] == "prune all: reply " + std::to_string(static_cast<int>(wire::MsgType::kPruned)));

  // Bob's prune of every job left Alice's kept checkpoints alone; a member
  // of the admin group, and root, see and restore her job.
  const std::string all = JobsListed(RunPccheck({"list", "--socket", socket, "--json"}));
  INFO(all);
  size_t listed = 0;
  for (size_t at = all.find("alice-job "); at != std::string::npos;
       at = all.find("alice-job ", at + 1)) {
    ++listed;
  }
  CHECK(listed == 5);  // 3 ring slots and the 2 kept steps the ring dropped
  auto admin = run(kAdmin, kAdmins, [&](int out) {
    auto t = TestTrainer::Open(socket, "alice-job", 0, 1u << 16);
    Report(out, t.ok() ? (*t)->RestoreAndCheck().status().ToString() : t.status().ToString());
    Report(out, JobsListed(RunPccheck({"list", "--socket", socket, "--json"})));
  });
  REQUIRE(admin.size() == 2);
  CHECK(admin[0] == "Ok");
  CHECK(Has(admin[1], "alice-job"));
  CHECK(Has(admin[1], "bob-job"));
  auto root_session = TestTrainer::Open(socket, "alice-job", 1, 1u << 16);
  CHECK(root_session.status().ToString() == "Ok");
  std::ifstream again(owner_file);
  std::getline(again, owner);
  CHECK(owner == "60001");  // privileged sessions leave the owner as it was
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_CASE(
    "a job made before owners were recorded is adopted by its first user's session, not "
    "by root's",
    "[daemon][security]") {
  if (geteuid() != 0) {
    std::cout << "SKIP a job made before owners were recorded is adopted by its first user's "
                 "session, not by root's: needs root (to connect as other users); CI runs it "
                 "as root\n";
    return;
  }
  Watchdog watchdog(90);
  std::string dir = "/tmp/pccheck-legacy-XXXXXX";
  REQUIRE(mkdtemp(dir.data()) != nullptr);
  REQUIRE(chmod(dir.c_str(), 0711) == 0);
  Daemon daemon({"--socket-mode", "0666", "--allow-uid", "60001,60002"}, dir + "/pccheckd.sock");
  daemon.Start();
  watchdog.Guard(daemon.pid());
  std::filesystem::create_directories(daemon.root() + "/legacy/rank-0");
  const std::string owner_file = daemon.root() + "/legacy/owner";
  {
    auto t = TestTrainer::Open(daemon.socket(), "legacy", 0, 1u << 16);
    REQUIRE(t.status().ToString() == "Ok");
  }
  CHECK_FALSE(std::filesystem::exists(owner_file));
  auto connect_as = [&](uid_t uid) {
    ChildProcess child = As(uid, uid, [&](int out) {
      auto c = Client::Connect({daemon.socket(), "legacy", 0});
      Report(out, c.ok() ? "connected" : c.status().message());
    });
    watchdog.Guard(child.pid());
    return child.ReadLine(60'000).value_or("no answer");
  };
  CHECK(connect_as(60002) == "connected");
  std::ifstream in(owner_file);
  std::string owner;
  std::getline(in, owner);
  CHECK(owner == "60002");
  CHECK(Has(connect_as(60001), "job legacy belongs to uid 60002"));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// Descriptors the process holds now.
int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

size_t CountOf(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE(
    "out of file descriptors, the accept loop backs off, logs once per interval and "
    "serves again",
    "[daemon][security]") {
  Watchdog watchdog(90);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  const int held = OpenFds(daemon.pid());
  REQUIRE(held > 0);
  // Room for a few connections only; the rest wait in the listen backlog.
  rlimit before{}, tight{};
  tight.rlim_cur = tight.rlim_max = static_cast<rlim_t>(held + 4);
  REQUIRE(prlimit(daemon.pid(), RLIMIT_NOFILE, nullptr, &before) == 0);
  tight.rlim_max = before.rlim_max;
  REQUIRE(prlimit(daemon.pid(), RLIMIT_NOFILE, &tight, nullptr) == 0);
  std::vector<UnixSocket> peers;
  for (int i = 0; i < 40; ++i) {
    auto c = UnixSocket::Connect(daemon.socket());
    if (c.ok()) peers.push_back(std::move(c).value());
  }
  REQUIRE(daemon.WaitForLog("Too many open files", 10'000));
  sleep(3);  // three seconds of a full backlog and no descriptor to accept it with
  const std::string log = daemon.Log();
  const size_t warnings = CountOf(log, "accept on ");
  INFO(warnings << " accept warnings in 3 s");
  CHECK(warnings <= 2);  // one, and its count 10 s later: not one per turn
  REQUIRE(prlimit(daemon.pid(), RLIMIT_NOFILE, &before, nullptr) == 0);
  peers.clear();
  auto t = TestTrainer::Open(daemon.socket(), "after", 0, 1u << 16);
  REQUIRE(t.status().ToString() == "Ok");
  CHECK((*t)->client().Wait((*t)->Step(1).value(), 30'000).ToString() == "Ok");
  CHECK(kill(daemon.pid(), 0) == 0);
}

}  // namespace
}  // namespace pccheck::testing
