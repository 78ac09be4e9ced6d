// Peers the daemon must not trust (DESIGN.md, "IPC and trust"): a user it
// does not serve, and a client that scribbles over its own shared rings.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "catch.h"
#include "ipc/ring.h"
#include "ipc/shm.h"
#include "ipc/socket.h"
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

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(e.path().filename().string());
  }
  return names;
}

std::string ReadLink(const std::string& path) {
  std::error_code ec;
  auto target = std::filesystem::read_symlink(path, ec);
  return ec ? "" : target.string();
}

// A directory under /tmp that every user may pass through (0711), so that
// nothing but the daemon's own SO_PEERCRED check stands between `nobody` and
// a socket of mode 0666 in it. Removed with its content.
class TraversableDir {
 public:
  TraversableDir() {
    std::string templ = "/tmp/pccheck-uid-test-XXXXXX";
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path_ = templ;
    REQUIRE(chmod(path_.c_str(), 0711) == 0);
  }
  ~TraversableDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_CASE("a client of another uid is refused by SO_PEERCRED and cannot open the shared memory",
          "[daemon][security]") {
  if (geteuid() != 0) {
    std::cout << "SKIP a client of another uid is refused by SO_PEERCRED and cannot open the "
                 "shared memory: needs root (to run a client as nobody); CI runs it as root\n";
    return;
  }
  Watchdog watchdog(60);
  TraversableDir dir;
  Daemon daemon({"--socket-mode", "0666"}, dir.path() + "/pccheckd.sock");

  // The intruder is forked before anything of root's is connected or mapped,
  // so it inherits no descriptor or mapping of theirs; it becomes nobody and
  // then waits for the paths to try, one a line, ending with "go".
  int paths[2];
  REQUIRE(pipe2(paths, O_CLOEXEC) == 0);  // the daemon inherits neither end
  ChildProcess intruder([&](int out) {
    close(paths[1]);
    if (setgroups(0, nullptr) != 0 || setgid(kNogroup) != 0 || setuid(kNobody) != 0) {
      return Fail(out, std::string("cannot become nobody: ") + std::strerror(errno));
    }
    FILE* in = fdopen(paths[0], "r");
    std::vector<std::string> tries;
    char line[4096];
    while (in != nullptr && std::fgets(line, sizeof line, in) != nullptr) {
      std::string l(line);
      if (!l.empty() && l.back() == '\n') l.pop_back();
      if (l == "go") break;
      tries.push_back(l);
    }
    const std::string socket = daemon.socket();
    auto c = Client::Connect({socket, "intruder", 0});
    Report(out, std::string("connect ") + CodeName(c.status().code()) + " " + c.status().message());
    auto st = QueryStatusJson(socket);
    Report(out, std::string("status ") + CodeName(st.status().code()));
    for (const auto& path : tries) {
      const bool is_dir = path.back() == '/';
      if (is_dir) {
        DIR* d = opendir(path.c_str());
        if (d != nullptr) {
          Report(out, "listed " + path);
          closedir(d);
        }
        continue;
      }
      for (int flags : {O_RDONLY, O_RDWR}) {
        int fd = open(path.c_str(), flags | O_CLOEXEC);
        if (fd >= 0) {
          Report(out, "opened " + path);
          close(fd);
        }
      }
    }
    Report(out, "done");
    return 0;
  });
  close(paths[0]);
  watchdog.Guard(intruder.pid());

  daemon.Start();
  watchdog.Guard(daemon.pid());
  // Root's trainer: shared memory and a saved checkpoint, something to steal.
  auto owner = TestTrainer::Open(daemon.socket(), "owner", 0, 1u << 20);
  REQUIRE(owner.status().ToString() == "Ok");
  REQUIRE((*owner)->client().Wait((*owner)->Step(1).value(), 30'000).ToString() == "Ok");

  // Every descriptor the daemon and the trainer hold, and all of /dev/shm.
  std::vector<std::string> tries;
  int memfds = 0;
  for (pid_t pid : {daemon.pid(), getpid()}) {
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd/";
    tries.push_back(fd_dir);
    for (const auto& name : ListDir(fd_dir)) {
      if (ReadLink(fd_dir + name).starts_with("/memfd:pccheck")) ++memfds;
      tries.push_back(fd_dir + name);
    }
  }
  CHECK(memfds >= 4);  // the session segment and the arena, on both sides
  for (const auto& name : ListDir("/dev/shm")) tries.push_back("/dev/shm/" + name);
  std::string list;
  for (const auto& t : tries) list += t + "\n";
  list += "go\n";
  REQUIRE(write(paths[1], list.data(), list.size()) == static_cast<ssize_t>(list.size()));
  close(paths[1]);

  std::vector<std::string> lines;
  REQUIRE(intruder.ReadAll(&lines, 30'000));
  std::string said;
  for (const auto& l : lines) said += l + "\n";
  INFO("nobody's client said:\n" << said);
  REQUIRE(ExitedOk(intruder.Wait(10'000)));
  CHECK(Contains(said, "connect PermissionDenied"));
  CHECK(Contains(said, "uid 65534"));
  CHECK(Contains(said, "--allow-uid 65534"));
  CHECK(Contains(said, "status PermissionDenied"));
  for (const auto& l : lines) {
    CHECK_FALSE(l.starts_with("listed /proc/"));
    CHECK_FALSE(l.starts_with("opened /proc/"));
    // Nothing of pccheck's has a name in /dev/shm (segments are memfds).
    CHECK_FALSE((l.starts_with("opened /dev/shm/") && Contains(l, "pccheck")));
  }
  CHECK(daemon.WaitForLog("refused pid", 5'000));

  // The daemon serves its own user as before.
  REQUIRE((*owner)->client().Wait((*owner)->Step(2).value(), 30'000).ToString() == "Ok");
}

// A session opened by hand, as a hostile client would: the handshake spoken
// with proto/socket.h and proto/wire.h, the control segment mapped directly.
struct RawSession {
  UnixSocket socket;
  wire::Welcome welcome;
  wire::SegmentLayout layout;
  std::unique_ptr<SharedMemory> segment;
  EventFd request_event;
  EventFd completion_event;

  static std::unique_ptr<RawSession> Open(const std::string& path, const std::string& job) {
    auto s = std::make_unique<RawSession>();
    auto sock = UnixSocket::Connect(path);
    REQUIRE(sock.status().ToString() == "Ok");
    s->socket = std::move(sock).value();
    wire::Hello hello{wire::kProtocolVersion, job, 0, static_cast<uint32_t>(getpid())};
    REQUIRE(s->socket.Send(wire::MsgType::kHello, wire::Encode(hello)).ok());
    auto frame = s->socket.Receive(10'000);
    REQUIRE(frame.status().ToString() == "Ok");
    REQUIRE(frame->type == wire::MsgType::kWelcome);
    REQUIRE(frame->fds.size() == 3);
    auto welcome = wire::DecodeWelcome(frame->payload);
    REQUIRE(welcome.ok());
    s->welcome = *welcome;
    auto layout = wire::SegmentLayout::For(s->welcome.ring_slots, s->welcome.blob_slots,
                                           s->welcome.blob_slot_bytes);
    REQUIRE(layout.ok());
    s->layout = *layout;
    auto segment = SharedMemory::Map(frame->fds[0].release(), s->welcome.segment_bytes);
    REQUIRE(segment.status().ToString() == "Ok");
    s->segment = std::move(segment).value();
    s->request_event = EventFd::Adopt(std::move(frame->fds[1]));
    s->completion_event = EventFd::Adopt(std::move(frame->fds[2]));
    return s;
  }

  // Waits until the daemon closes the connection (EOF); false on timeout.
  bool WaitClosed(int timeout_ms) {
    pollfd p{socket.fd(), POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char byte;
    return recv(socket.fd(), &byte, 1, MSG_DONTWAIT) == 0;
  }
};

void Garble(uint8_t* p, size_t n, std::mt19937_64& rng) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(rng());
}

TEST_CASE("garbage written into a live client's rings: the daemon drops that session and serves on",
          "[daemon][security]") {
  Watchdog watchdog(90);
  Daemon daemon;
  daemon.Start();
  watchdog.Guard(daemon.pid());
  auto good = TestTrainer::Open(daemon.socket(), "good", 0, 1u << 20);
  REQUIRE(good.status().ToString() == "Ok");
  REQUIRE((*good)->client().Wait((*good)->Step(1).value(), 30'000).ToString() == "Ok");

  const uint64_t seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const char* const kHow[] = {"the whole request ring, indices included",
                              "the request slots, with the head index one ahead",
                              "the whole segment: both rings and the blob slots"};
  uint64_t step = 1;
  for (int round = 0; round < 3; ++round) {
    const std::string job = "evil-" + std::to_string(round);
    INFO("round " << round << ": random bytes over " << kHow[round % 3]);
    auto evil = RawSession::Open(daemon.socket(), job);
    uint8_t* base = evil->segment->data();
    const size_t ring_bytes = wire::RingView::BytesFor(evil->layout.ring_slots);
    switch (round % 3) {
      case 0:
        Garble(base + evil->layout.request_ring, ring_bytes, rng);
        break;
      case 1: {
        Garble(base + evil->layout.request_ring + 128, ring_bytes - 128, rng);
        std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(base + evil->layout.request_ring))
            .store(1, std::memory_order_release);
        break;
      }
      default:
        Garble(base, evil->layout.total_bytes, rng);
    }
    REQUIRE(evil->request_event.Signal().ok());

    INFO(daemon.Log());
    REQUIRE(daemon.WaitForLog("dropping job " + job + " rank 0", 10'000));
    CHECK(evil->WaitClosed(10'000));
    // The daemon lives on and serves the well-behaved client.
    auto ticket = (*good)->Step(++step);
    REQUIRE(ticket.status().ToString() == "Ok");
    REQUIRE((*good)->client().Wait(*ticket, 30'000).ToString() == "Ok");
  }
  auto restored = (*good)->RestoreAndCheck();
  REQUIRE(restored.status().ToString() == "Ok");
  CHECK(*restored == step);
  const auto status = daemon.Status();
  REQUIRE(status["sessions"].items().size() == 1);
  CHECK(status["sessions"].items()[0]["job"].AsString() == "good");
}

}  // namespace
}  // namespace pccheck::testing
