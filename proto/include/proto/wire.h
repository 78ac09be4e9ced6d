// What crosses the boundary between pccheckd and its clients.
//
// Two channels per client:
//   * the Unix socket: framed control messages (handshake, arena allocation,
//     tensor registration, restore, list, status), file descriptors passed
//     with SCM_RIGHTS, and liveness (EOF means the peer died);
//   * a control segment in shared memory (see ring.h): a request ring
//     (client -> daemon: save) and a completion ring (daemon -> client:
//     copies queued, snapshot done, committed, failed), woken through eventfds.
//
// Every decoder treats its input as hostile: sizes are bounded against the
// bytes present and against fixed caps before anything is allocated, and a
// failure is a Corruption status naming the message and the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "proto/manifest.h"

namespace pccheck::wire {

inline constexpr uint32_t kProtocolVersion = 1;
// A control frame is at most this large (a tensor table of ~100k tensors).
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;
// The first frame of a connection (Hello, a status or store request) is
// small; the daemon reads no more than this before it knows what the peer
// asks for.
inline constexpr uint32_t kMaxFirstFrameBytes = 64u << 10;
inline constexpr uint32_t kMaxTensors = 1u << 20;

enum class MsgType : uint16_t {
  kHello = 1,    // client -> daemon, first frame
  kWelcome = 2,  // daemon -> client, with fds: control segment, request eventfd, completion eventfd
  kError = 3,    // daemon -> client: the request failed (code + message)
  kAllocArena = 4,    // client -> daemon
  kArena = 5,         // daemon -> client, with fd: the arena's memfd
  kRegister = 6,      // client -> daemon: the tensor table
  kRegistered = 7,    // daemon -> client
  kRestore = 8,       // client -> daemon
  kRestored = 9,      // daemon -> client
  kList = 10,         // client -> daemon
  kListed = 11,       // daemon -> client
  kStatus = 12,       // anyone -> daemon (no Hello needed)
  kStatusReply = 13,  // daemon -> client: a JSON document
  kGoodbye = 14,      // client -> daemon: orderly close
  kAdoptArena = 15,   // client -> daemon, payload Arena, with fd: an arena from an earlier
                      // session (after a daemon restart); answered with kArena (new id)
  kGpuSetup = 16,     // client -> daemon: GPU ordering events (and staging); before
                      // registering GPU tensors
  kGpuReady = 17,     // daemon -> client: the daemon's events (and staging buffer)
  // Store requests (proto/store_wire.h): like kStatus, anyone allowed -> daemon,
  // no Hello, one request per connection.
  kStoreList = 32,       // payload empty; answered with kStoreListed
  kStoreListed = 33,     // daemon -> client: every checkpoint of every job and rank, JSON
  kVerify = 34,          // verify one checkpoint; answered with kVerifyProgress..., kVerified
  kVerifyProgress = 35,  // daemon -> client: bytes checked so far
  kVerified = 36,        // daemon -> client: the verdict
  kPrune = 37,           // remove kept checkpoints; answered with kPruned or kError
  kPruned = 38,          // daemon -> client: what was (or would be) removed
};

// Frame header on the socket: u32 payload length, u16 type, u16 reserved (0),
// then the payload. Fds travel with the header's sendmsg.
inline constexpr size_t kFrameHeaderBytes = 8;

struct FrameHeader {
  uint32_t length = 0;
  MsgType type = MsgType::kHello;
  bool operator==(const FrameHeader&) const = default;
};
std::string EncodeFrameHeader(const FrameHeader& h);
// Checks the type is known and length <= kMaxFrameBytes.
Result<FrameHeader> DecodeFrameHeader(std::string_view bytes);

struct Hello {
  uint32_t version = kProtocolVersion;
  std::string job;
  uint32_t rank = 0;
  uint32_t pid = 0;
  bool operator==(const Hello&) const = default;
};

struct Welcome {
  uint32_t version = kProtocolVersion;
  uint64_t session_id = 0;
  uint64_t segment_bytes = 0;  // size of the control segment (fd 0)
  uint32_t ring_slots = 0;     // slots in each ring
  uint32_t blob_slots = 0;     // user-blob slots in the segment
  uint64_t blob_slot_bytes = 0;
  uint32_t max_inflight = 0;
  uint64_t chunk_bytes = 0;
  std::string daemon_version;
  bool operator==(const Welcome&) const = default;
};

struct ErrorReply {
  uint32_t code = 0;  // pccheck::Code
  std::string message;
  bool operator==(const ErrorReply&) const = default;
};

struct AllocArena {
  uint64_t bytes = 0;
  bool operator==(const AllocArena&) const = default;
};

struct Arena {
  uint32_t arena_id = 0;
  uint64_t bytes = 0;
  bool operator==(const Arena&) const = default;
};

// Where a registered tensor lives.
enum class Location : uint32_t {
  kArena = 1,    // host memory in a daemon-mapped arena: arena_id + offset
  kCudaIpc = 2,  // device memory: cuda_ipc_handle of the allocation base + offset
};

struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;
  Location location = Location::kArena;
  uint32_t arena_id = 0;    // kArena
  uint32_t device = 0;      // kCudaIpc: the CUDA device ordinal
  std::string ipc_handle;   // kCudaIpc: 64 bytes of cudaIpcMemHandle_t
  uint64_t base_bytes = 0;  // kCudaIpc: size of the allocation the handle exports
  uint64_t offset = 0;      // in the arena, or from the allocation base
  bool operator==(const TensorSpec&) const = default;
};

struct Register {
  std::vector<TensorSpec> tensors;
  bool operator==(const Register&) const = default;
};

struct Registered {
  uint32_t table_version = 0;  // saves name the table they were taken with
  uint64_t total_bytes = 0;
  bool operator==(const Registered&) const = default;
};

// GPU saves are ordered by interprocess CUDA events, one pair per in-flight
// slot (max_inflight + 1 slots): "ready", created by the client and recorded
// on the trainer's stream at save(), and "done", created by the daemon and
// recorded on its copy stream of each device after the save's copies.
inline constexpr size_t kIpcHandleBytes = 64;   // cudaIpcMemHandle_t, cudaIpcEventHandle_t
inline constexpr uint32_t kMaxEventSlots = 65;  // max_inflight <= 64
inline constexpr uint32_t kMaxGpuDevices = 64;

struct GpuSetup {
  uint32_t ready_device = 0;              // the device of the trainer's stream and ready events
  std::vector<std::string> ready_events;  // per slot: a cudaIpcEventHandle_t (64 bytes)
  std::vector<uint32_t> devices;          // devices of the GPU tensors: done events for each
  // Staging mode (snapshot="gpu"): a daemon-owned buffer of this many bytes on
  // ready_device that the client fills device-to-device at each save; 0: none.
  uint64_t staging_bytes = 0;
  bool operator==(const GpuSetup&) const = default;
};

struct GpuReady {
  // done_events[i][slot]: the done event of GpuSetup::devices[i] for that slot.
  std::vector<std::vector<std::string>> done_events;
  std::string staging_handle;  // a cudaIpcMemHandle_t when staging was asked for, else empty
  uint64_t staging_bytes = 0;  // its size (>= the size asked for); 0 without staging
  bool operator==(const GpuReady&) const = default;
};

struct Restore {
  std::optional<uint64_t> step;
  bool operator==(const Restore&) const = default;
};

struct Restored {
  uint64_t step = 0;
  std::string user_blob;
  uint64_t bytes = 0;
  std::string source;  // "disk" or "memory"
  std::vector<std::string> skipped;
  bool operator==(const Restored&) const = default;
};

struct ListReply {
  struct Entry {
    uint64_t step = 0;
    uint64_t bytes = 0;
    int64_t wall_time = 0;
    bool latest = false;
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> entries;
  bool operator==(const ListReply&) const = default;
};

struct StatusReply {
  std::string json;
  bool operator==(const StatusReply&) const = default;
};

// Encoders return the payload (no frame header); callers keep fields within
// the decoders' caps. Decoders validate fully and reject trailing bytes:
//   * strings: job and tensor names <= kMaxNameBytes, dtype <= kMaxDtypeBytes,
//     user blob <= kMaxUserBlobBytes, status JSON <= kMaxJsonBytes, any other
//     string <= kMaxStringBytes;
//   * Hello and Welcome: a version other than kProtocolVersion is refused with
//     a message naming both versions (the rest of the layout may differ);
//   * TensorSpec: dims <= kMaxDims and none negative, a known Location,
//     offset + bytes without overflow; kArena carries no ipc_handle; kCudaIpc
//     carries a 64-byte one and lies inside [0, base_bytes);
//   * ErrorReply: code is a failure Code (not kOk); Restored: source is "disk"
//     or "memory"; ListReply: at most one entry is latest;
//   * GpuSetup: 1..kMaxEventSlots ready handles, 1..kMaxGpuDevices distinct
//     devices, every handle 64 bytes; GpuReady: at most kMaxGpuDevices lists
//     of at most kMaxEventSlots 64-byte handles, the staging handle 64 bytes
//     exactly when staging_bytes > 0.
// Welcome's ring and blob numbers are checked by SegmentLayout::For (ring.h).
inline constexpr size_t kMaxStringBytes = 64u << 10;
inline constexpr size_t kMaxJsonBytes = 16u << 20;
std::string Encode(const Hello& m);
std::string Encode(const Welcome& m);
std::string Encode(const ErrorReply& m);
std::string Encode(const AllocArena& m);
std::string Encode(const Arena& m);
std::string Encode(const Register& m);
std::string Encode(const Registered& m);
std::string Encode(const Restore& m);
std::string Encode(const Restored& m);
std::string Encode(const ListReply& m);
std::string Encode(const StatusReply& m);
std::string Encode(const GpuSetup& m);
std::string Encode(const GpuReady& m);

Result<Hello> DecodeHello(std::string_view b);
Result<Welcome> DecodeWelcome(std::string_view b);
Result<ErrorReply> DecodeErrorReply(std::string_view b);
Result<AllocArena> DecodeAllocArena(std::string_view b);
Result<Arena> DecodeArena(std::string_view b);
Result<Register> DecodeRegister(std::string_view b);
Result<Registered> DecodeRegistered(std::string_view b);
Result<Restore> DecodeRestore(std::string_view b);
Result<Restored> DecodeRestored(std::string_view b);
Result<ListReply> DecodeListReply(std::string_view b);
Result<StatusReply> DecodeStatusReply(std::string_view b);
Result<GpuSetup> DecodeGpuSetup(std::string_view b);
Result<GpuReady> DecodeGpuReady(std::string_view b);

// ---- ring messages (fixed size, in shared memory) ----------------------------

inline constexpr size_t kRingMessageBytes = 256;

enum class RingType : uint32_t {
  kSave = 1,          // request
  kSnapshotDone = 2,  // completion: the sources may change now
  kCommitted = 3,     // completion: durable and latest
  kFailed = 4,        // completion: code + message
  kCopiesQueued = 5,  // completion (GPU saves): the daemon's copies are queued and its
                      // "done" events recorded after them; the client may wait on them
  kCoalesced = 6,     // completion: superseded by a newer snapshot before its writing
                      // began (policy `coalesce`); ended, not an error, never written
};

struct SaveMsg {
  uint64_t seq = 0;  // client's request number, echoed in completions
  uint64_t step = 0;
  uint32_t table_version = 0;  // must match the session's current registration
  uint32_t blob_slot = 0;      // which blob slot holds the user blob
  uint64_t blob_bytes = 0;
  uint32_t event_slot = 0;  // GPU: which ready/done event pair (ignored for host)
  bool operator==(const SaveMsg&) const = default;
};

inline constexpr size_t kMaxCompletionMessageBytes = kRingMessageBytes - 40;

struct CompletionMsg {
  RingType type = RingType::kCommitted;
  uint64_t seq = 0;
  uint64_t step = 0;
  uint32_t code = 0;
  std::string message;  // at most kMaxCompletionMessageBytes; longer is cut
                        // by EncodeCompletion, between UTF-8 characters
  bool operator==(const CompletionMsg&) const = default;
};

// Encode into exactly kRingMessageBytes (zero padded). Decode checks a magic,
// the protocol version, the type and every field's range it can check alone:
// blob_bytes <= kMaxUserBlobBytes; a completion's code is a failure Code for
// kFailed and 0 otherwise; the message length; padding and reserved bytes 0.
//
// Layout (little-endian): "PCRM", u16 version, u16 RingType, then
//   save:       u64 seq, u64 step, u32 table_version, u32 blob_slot,
//               u64 blob_bytes, u32 event_slot
//   completion: u64 seq, u64 step, u32 code, u32 message length,
//               8 reserved bytes, the message (kMaxCompletionMessageBytes)
void EncodeSave(const SaveMsg& m, uint8_t out[kRingMessageBytes]);
Result<SaveMsg> DecodeSave(const uint8_t in[kRingMessageBytes]);
void EncodeCompletion(const CompletionMsg& m, uint8_t out[kRingMessageBytes]);
Result<CompletionMsg> DecodeCompletion(const uint8_t in[kRingMessageBytes]);

}  // namespace pccheck::wire
