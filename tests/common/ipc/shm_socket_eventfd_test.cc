// Shared memory, the Unix socket and eventfds (proto/shm.h, proto/socket.h),
// with real processes and file descriptors.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "catch.h"
#include "ipc/shm.h"
#include "ipc/socket.h"
#include "support/test_util.h"

namespace pccheck {
namespace {

using wire::MsgType;

bool Mentions(const Status& s, Code code, const std::string& what) {
  return s.code() == code && s.message().find(what) != std::string::npos;
}

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// ---- shared memory --------------------------------------------------------------

TEST_CASE("shm: a child process maps the segment and the parent sees its writes", "[proto]") {
  auto shm = SharedMemory::Create("ipc-test", 10000);
  REQUIRE(shm.ok());
  SharedMemory& seg = *shm.value();
  REQUIRE(seg.size() == 12288);  // rounded up to a page
  std::memset(seg.data(), 0, seg.size());

  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // no Catch macros here: report through the exit status
    auto mapped = SharedMemory::Map(::dup(seg.fd()), seg.size());
    if (!mapped.ok()) ::_exit(2);
    for (size_t i = 0; i < seg.size(); ++i) mapped.value()->data()[i] = static_cast<uint8_t>(i * 7);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  size_t wrong = 0;
  for (size_t i = 0; i < seg.size(); ++i) wrong += seg.data()[i] != static_cast<uint8_t>(i * 7);
  CHECK(wrong == 0);
}

TEST_CASE("shm: Map refuses unsealed and too small segments, and owns the fd", "[proto]") {
  SECTION("a memfd without seals") {
    int fd = ::memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 4096) == 0);
    auto r = SharedMemory::Map(fd, 4096);
    REQUIRE_FALSE(r.ok());
    CHECK(Mentions(r.status(), Code::kInvalidArgument, "is not a sealed pccheck segment"));
    CHECK(!IsOpen(fd));
  }
  SECTION("a memfd that cannot be sealed") {
    int fd = ::memfd_create("no-sealing", MFD_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, 4096) == 0);
    CHECK(Mentions(SharedMemory::Map(fd, 4096).status(), Code::kInvalidArgument,
                   "is not a sealed pccheck segment"));
  }
  SECTION("a regular file") {
    testing::TempDir dir;
    const std::string path = dir.path() + "/file";
    std::ofstream(path) << std::string(8192, 'x');
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(Mentions(SharedMemory::Map(fd, 4096).status(), Code::kInvalidArgument,
                   "is not a sealed pccheck segment"));
  }
  SECTION("a sealed segment smaller than announced") {
    auto shm = SharedMemory::Create("small", 4096);
    REQUIRE(shm.ok());
    int fd = ::dup(shm.value()->fd());
    auto r = SharedMemory::Map(fd, 8192);
    REQUIRE_FALSE(r.ok());
    CHECK(Mentions(r.status(), Code::kInvalidArgument, "is 4096 bytes, smaller than the 8192"));
    CHECK(!IsOpen(fd));
  }
}

TEST_CASE("shm: a sealed segment cannot be resized", "[proto]") {
  auto shm = SharedMemory::Create("sealed", 8192);
  REQUIRE(shm.ok());
  const int fd = shm.value()->fd();
  CHECK(::ftruncate(fd, 4096) == -1);
  CHECK(errno == EPERM);
  CHECK(::ftruncate(fd, 16384) == -1);
  CHECK(errno == EPERM);
  CHECK(::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == -1);  // F_SEAL_SEAL: no more seals
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK(st.st_size == 8192);
  shm.value()->data()[8191] = 1;  // still fully mapped
}

// ---- Unix socket ----------------------------------------------------------------

struct Connected {
  UnixSocket listener, server, client;
};

Connected Connect(const std::string& path) {
  Connected c;
  auto listener = UnixSocket::Listen(path, 0600);
  REQUIRE(listener.ok());
  c.listener = std::move(listener.value());
  auto client = UnixSocket::Connect(path);
  REQUIRE(client.ok());
  c.client = std::move(client.value());
  auto server = c.listener.Accept();
  REQUIRE(server.ok());
  c.server = std::move(server.value());
  return c;
}

TEST_CASE("socket: frames, fds and credentials cross", "[proto]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/pccheckd.sock";
  Connected c = Connect(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(c.server.path() == path);

  auto peer = c.server.Peer();
  REQUIRE(peer.ok());
  CHECK(peer->uid == ::getuid());
  CHECK(peer->pid == ::getpid());
  CHECK(peer->gid == ::getgid());

  auto wake = EventFd::Create();
  REQUIRE(wake.ok());
  auto shm = SharedMemory::Create("passed", 4096);
  REQUIRE(shm.ok());
  std::memcpy(shm.value()->data(), "hello", 5);
  const std::string payload = wire::Encode(wire::Hello{wire::kProtocolVersion, "job", 0, 1});
  REQUIRE(c.client.Send(MsgType::kHello, payload, {wake->fd(), shm.value()->fd()}).ok());

  auto frame = c.server.Receive(5000);
  INFO(frame.status().ToString());
  REQUIRE(frame.ok());
  CHECK(frame->type == MsgType::kHello);
  CHECK(frame->payload == payload);
  REQUIRE(frame->fds.size() == 2);
  CHECK((::fcntl(frame->fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);

  // The received eventfd is the same counter: signal one end, wait on the other.
  EventFd received = EventFd::Adopt(std::move(frame->fds[0]));
  REQUIRE(received.Signal().ok());
  auto woke = wake->Wait(5000);
  REQUIRE(woke.ok());
  CHECK(woke.value());
  auto mapped = SharedMemory::Map(frame->fds[1].release(), 4096);
  REQUIRE(mapped.ok());
  CHECK(std::memcmp(mapped.value()->data(), "hello", 5) == 0);

  // And back, with an empty payload and no fds.
  REQUIRE(c.server.Send(MsgType::kGoodbye, "").ok());
  auto back = c.client.Receive(5000);
  REQUIRE(back.ok());
  CHECK(back->type == MsgType::kGoodbye);
  CHECK(back->payload.empty());
  CHECK(back->fds.empty());
}

TEST_CASE("socket: a large frame arrives whole", "[proto]") {
  testing::TempDir dir;
  Connected c = Connect(dir.path() + "/s");
  const std::vector<uint8_t> data = testing::RandomBytes(5 << 20, 11);  // many partial writes
  const std::string payload(data.begin(), data.end());
  Status sent;
  std::thread sender([&] { sent = c.client.Send(MsgType::kRegister, payload); });
  auto frame = c.server.Receive(10000);
  sender.join();
  REQUIRE(sent.ok());
  REQUIRE(frame.ok());
  CHECK(frame->payload == payload);
}

TEST_CASE("socket: Send refuses what the receiver would reject", "[proto]") {
  testing::TempDir dir;
  Connected c = Connect(dir.path() + "/s");
  CHECK(c.client.Send(MsgType::kHello, "", {0, 1, 2, 0, 1}).code() == Code::kInvalidArgument);
  CHECK(c.client.Send(MsgType::kHello, std::string(wire::kMaxFrameBytes + 1, 'x')).code() ==
        Code::kInvalidArgument);
}

TEST_CASE("socket: fds beyond four are closed on receipt", "[proto]") {
  testing::TempDir dir;
  Connected c = Connect(dir.path() + "/s");
  // Hand-made sendmsg with six fds: Send itself refuses more than four.
  const std::string header = wire::EncodeFrameHeader({0, MsgType::kArena});
  int fds[6];
  for (int& fd : fds) fd = ::eventfd(0, EFD_CLOEXEC);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(fds))] = {};
  iovec iov{const_cast<char*>(header.data()), header.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(fds));
  std::memcpy(CMSG_DATA(cm), fds, sizeof(fds));
  REQUIRE(::sendmsg(c.client.fd(), &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(header.size()));
  for (int fd : fds) ::close(fd);

  auto frame = c.server.Receive(5000);
  REQUIRE(frame.ok());
  CHECK(frame->fds.size() == 4);
}

TEST_CASE("socket: Listen refuses a live daemon and replaces a stale socket", "[proto]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/pccheckd.sock";
  {
    auto first = UnixSocket::Listen(path, 0660);
    REQUIRE(first.ok());
    auto second = UnixSocket::Listen(path, 0660);
    REQUIRE_FALSE(second.ok());
    CHECK(Mentions(second.status(), Code::kBusy, "another pccheckd is listening on " + path));
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);  // the dead listener left its file behind
  auto again = UnixSocket::Listen(path, 0660);
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK(UnixSocket::Connect(path).ok());
}

TEST_CASE("socket: Listen will not remove a file that is not a socket", "[proto]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/precious";
  std::ofstream(path) << "data";
  auto r = UnixSocket::Listen(path, 0600);
  CHECK(Mentions(r.status(), Code::kInvalidArgument, "exists and is not a socket"));
  std::ifstream in(path);
  std::string content;
  in >> content;
  CHECK(content == "data");
  CHECK(UnixSocket::Listen(dir.path() + "/" + std::string(200, 'x'), 0600).status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("socket: Connect says how to start the daemon", "[proto]") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/nobody.sock";
  auto r = UnixSocket::Connect(path);
  REQUIRE_FALSE(r.ok());
  INFO(r.status().ToString());
  CHECK(Mentions(r.status(), Code::kUnavailable, "cannot connect to pccheckd at " + path));
  CHECK(Mentions(r.status(), Code::kUnavailable, "is pccheckd running?"));
  CHECK(Mentions(r.status(), Code::kUnavailable, "pccheckd --socket " + path));
}

TEST_CASE("socket: Receive reports a closed peer, a timeout and a bad header", "[proto]") {
  testing::TempDir dir;
  Connected c = Connect(dir.path() + "/s");
  SECTION("timeout, then the socket still works") {
    auto r = c.server.Receive(20);
    CHECK(Mentions(r.status(), Code::kIoError, "timed out after 20 ms"));
    REQUIRE(c.client.Send(MsgType::kList, "").ok());
    CHECK(c.server.Receive(5000).ok());
  }
  SECTION("peer closed between frames") {
    c.client = UnixSocket();
    CHECK(Mentions(c.server.Receive(5000).status(), Code::kUnavailable, "peer closed"));
  }
  SECTION("peer closed in the middle of a frame") {
    const std::string header = wire::EncodeFrameHeader({100, MsgType::kRegister});
    REQUIRE(::write(c.client.fd(), header.data(), header.size()) == 8);
    REQUIRE(::write(c.client.fd(), "abc", 3) == 3);
    c.client = UnixSocket();
    CHECK(
        Mentions(c.server.Receive(5000).status(), Code::kUnavailable, "in the middle of a frame"));
  }
  SECTION("bad header") {
    std::string header = wire::EncodeFrameHeader({0, MsgType::kList});
    header[4] = 99;
    REQUIRE(::write(c.client.fd(), header.data(), header.size()) == 8);
    CHECK(Mentions(c.server.Receive(5000).status(), Code::kCorruption, "unknown type 99"));
  }
  SECTION("Send to a closed peer fails without SIGPIPE") {
    c.server = UnixSocket();
    Status s;
    for (int i = 0; i < 100 && s.ok(); ++i)
      s = c.client.Send(MsgType::kList, std::string(4096, 'x'));
    CHECK(Mentions(s, Code::kUnavailable, "peer closed"));
  }
}

// ---- eventfd --------------------------------------------------------------------

TEST_CASE("eventfd: signal, wait, reset and timeout", "[proto]") {
  auto e = EventFd::Create();
  REQUIRE(e.ok());
  auto r = e->Wait(10);
  REQUIRE(r.ok());
  CHECK(!r.value());
  REQUIRE(e->Signal().ok());
  REQUIRE(e->Signal().ok());
  r = e->Wait(0);
  REQUIRE(r.ok());
  CHECK(r.value());
  r = e->Wait(0);  // two signals, one wake-up: the count was reset
  REQUIRE(r.ok());
  CHECK(!r.value());
  REQUIRE(e->Signal().ok());
  e->Drain();
  CHECK(!e->Wait(0).value());
  e->Drain();  // nothing pending: no block, no error

  std::thread waker([&] { (void)e->Signal(); });
  r = e->Wait(-1);
  waker.join();
  REQUIRE(r.ok());
  CHECK(r.value());
}

}  // namespace
}  // namespace pccheck
