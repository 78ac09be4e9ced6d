#include "fake_ipc_gpu.h"

#include <cstring>

namespace pccheck::testing {

namespace {

constexpr char kMemMagic[8] = {'F', 'A', 'K', 'E', 'M', 'E', 'M', '!'};
constexpr char kEventMagic[8] = {'F', 'A', 'K', 'E', 'E', 'V', 'T', '!'};

// magic, then the words, zero padded to 64 bytes.
std::string Pack(const char (&magic)[8], uint64_t a, uint64_t b) {
  std::string h(64, '\0');
  std::memcpy(h.data(), magic, 8);
  std::memcpy(h.data() + 8, &a, 8);
  std::memcpy(h.data() + 16, &b, 8);
  return h;
}

bool Unpack(std::string_view h, const char (&magic)[8], uint64_t* a, uint64_t* b) {
  if (h.size() != 64 || std::memcmp(h.data(), magic, 8) != 0) return false;
  std::memcpy(a, h.data() + 8, 8);
  std::memcpy(b, h.data() + 16, 8);
  return true;
}

}  // namespace

FakeIpcGpu::FakeIpcGpu(int devices) : devices_(devices), host_(NewFakeGpu(devices)) {}

std::string FakeIpcGpu::MemHandle(const void* p, uint64_t bytes) {
  return Pack(kMemMagic, reinterpret_cast<uint64_t>(p), bytes);
}

std::string FakeIpcGpu::EventHandle(Event* e) const {
  return Pack(kEventMagic, reinterpret_cast<uint64_t>(e), 0);
}

std::string FakeIpcGpu::ClientEvent(const std::string& name) {
  std::lock_guard lock(mu_);
  events_.push_back(Event{name});
  return EventHandle(&events_.back());
}

int FakeIpcGpu::opened() const {
  std::lock_guard lock(mu_);
  return opened_;
}
int FakeIpcGpu::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}
int FakeIpcGpu::freed() const {
  std::lock_guard lock(mu_);
  return freed_;
}
int FakeIpcGpu::live_daemon_events() const {
  std::lock_guard lock(mu_);
  return live_events_;
}
std::vector<std::string> FakeIpcGpu::Log() const {
  std::lock_guard lock(mu_);
  return log_;
}
void FakeIpcGpu::ClearLog() {
  std::lock_guard lock(mu_);
  log_.clear();
}

Status FakeIpcGpu::CheckDevice(int device) const {
  if (device < 0 || device >= devices_) return Status::InvalidArgument("no device");
  return Status::Ok();
}

Result<void*> FakeIpcGpu::AllocHost(size_t bytes, bool* locked) {
  return host_->AllocHost(bytes, locked);
}
void FakeIpcGpu::FreeHost(void* ptr, size_t bytes) { host_->FreeHost(ptr, bytes); }

Status FakeIpcGpu::CopyToHost(int device, void* dst, const void* src, size_t n) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::memcpy(dst, src, n);
  std::lock_guard lock(mu_);
  log_.push_back("copy");
  return Status::Ok();
}

Status FakeIpcGpu::CopyToDevice(int device, void* dst, const void* src, size_t n) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::memcpy(dst, src, n);
  return Status::Ok();
}

Result<Fence> FakeIpcGpu::Record(int device) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  return Fence{device, 0};
}

Status FakeIpcGpu::StreamWaitEvent(int device, void* event) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  log_.push_back("wait " + static_cast<Event*>(event)->name);
  return Status::Ok();
}

Status FakeIpcGpu::RecordEvent(int device, void* event) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  log_.push_back("record " + static_cast<Event*>(event)->name);
  return Status::Ok();
}

Result<bool> FakeIpcGpu::EventDone(int device, void* event) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  const std::string& name = static_cast<Event*>(event)->name;
  if (log_.empty() || log_.back() != "query " + name) log_.push_back("query " + name);
  return name != held_;
}

void FakeIpcGpu::HoldEvent(const std::string& name) {
  std::lock_guard lock(mu_);
  held_ = name;
}

void FakeIpcGpu::Release() {
  std::lock_guard lock(mu_);
  held_.clear();
}

Result<void*> FakeIpcGpu::OpenMemHandle(int device, std::string_view handle, uint64_t* bytes) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  uint64_t p = 0;
  if (!Unpack(handle, kMemMagic, &p, bytes)) return Status::InvalidArgument("not a memory handle");
  std::lock_guard lock(mu_);
  ++opened_;
  return reinterpret_cast<void*>(p);
}

Status FakeIpcGpu::CloseMemHandle(int device, void*) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  ++closed_;
  return Status::Ok();
}

Result<void*> FakeIpcGpu::AllocShared(int device, uint64_t bytes, std::string* handle) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  std::vector<uint8_t> buf(bytes);
  void* p = buf.data();
  shared_[p] = std::move(buf);
  *handle = MemHandle(p, bytes);
  return p;
}

Status FakeIpcGpu::FreeShared(int device, void* ptr) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  shared_.erase(ptr);
  ++freed_;
  return Status::Ok();
}

Result<void*> FakeIpcGpu::CreateSharedEvent(int device, std::string* handle) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  events_.push_back(Event{"done" + std::to_string(daemon_events_++)});
  ++live_events_;
  *handle = EventHandle(&events_.back());
  return static_cast<void*>(&events_.back());
}

Result<void*> FakeIpcGpu::OpenEventHandle(int device, std::string_view handle) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  uint64_t p = 0, unused = 0;
  if (!Unpack(handle, kEventMagic, &p, &unused)) {
    return Status::InvalidArgument("not an event handle");
  }
  std::lock_guard lock(mu_);
  ++live_events_;
  return reinterpret_cast<void*>(p);
}

Status FakeIpcGpu::DestroyEvent(int device, void*) {
  PCC_RETURN_IF_ERROR(CheckDevice(device));
  std::lock_guard lock(mu_);
  --live_events_;
  return Status::Ok();
}

}  // namespace pccheck::testing
