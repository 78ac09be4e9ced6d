// Client::Impl: the state behind a Client and the rules that keep it
// consistent across a daemon's death and restart (protocol step 10).
//
// `session` is null while the daemon is lost. Arenas, the tensor table, the
// GPU state and the tickets outlive sessions: Reconnect() hands the arenas,
// the GPU setup and the table to a new session. Completions are processed
// lazily inside each API call: the trainer has no background thread of ours.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "arena.h"
#include "gpu_session.h"
#include "pccheck/client.h"
#include "session.h"
#include "tensor_table.h"
#include "tickets.h"

namespace pccheck {

struct Client::Impl {
  ClientOptions options;  // options.socket is never empty
  std::unique_ptr<client::Session> session;
  std::vector<client::Arena> arenas;     // from AllocateShared, in order
  std::optional<client::Arena> staging;  // copies of tensors outside the arenas
  std::optional<client::TensorTable> table;
  uint32_t table_version = 0;               // the current session's, valid when table is set
  std::unique_ptr<client::GpuSession> gpu;  // set while the table has GPU tensors
  client::TicketBook tickets;
  uint64_t next_seq = 1;

  ~Impl();

  // Ok with a live session: processes waiting completions, checks the daemon
  // is alive, and reconnects once when the last session was lost. Otherwise
  // Unavailable naming the socket.
  Status Connected();
  // Drains the completion ring into the tickets; when the session is broken,
  // drops it (MarkLost) and returns why.
  Status Pump();
  // The session is gone: fails unfinished saves, returns the Unavailable the
  // caller reports.
  Status MarkLost(Status why);
  // After a failed request: the status to return (MarkLost's when the session broke).
  Status Checked(const Status& s);

  // Processes completions until done() holds, the daemon goes away, or
  // timeout_ms passes (then a Timeout naming `what`). timeout_ms < 0: no limit.
  Status WaitUntil(const std::function<bool()>& done, int timeout_ms, const std::string& what);

  // Registers `t` in the current session; returns the table version.
  Result<uint32_t> SendTable(const client::TensorTable& t, uint32_t staging_id);
  // Register and RegisterDevices (devices empty: all host memory): waits for
  // the snapshots in flight, sets up the GPU side when the table needs a new
  // setup, places and sends the table. On failure the previous registration
  // stays whole (a failure after a new GPU setup drops the session, so the
  // next call reconnects with the previous one).
  Status InstallTable(const std::vector<HostTensor>& tensors, const std::vector<int>& devices,
                      GpuSnapshot mode);
  // Save's common path (REQUIRES: Connected() just succeeded): waits until the
  // staging area and blob slot are free, fills them, pushes the request with
  // `event_slot` and adds its ticket.
  Result<uint64_t> SubmitSave(uint64_t step, std::string_view user_blob, uint32_t event_slot);
  uint32_t staging_id() const { return staging ? staging->id : 0; }

 private:
  Status Reconnect();
};

}  // namespace pccheck
