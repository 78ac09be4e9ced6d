#include "arena.h"

namespace pccheck::client {

bool Arena::Contains(const void* p, uint64_t bytes) const {
  auto begin = reinterpret_cast<uintptr_t>(memory->data());
  auto at = reinterpret_cast<uintptr_t>(p);
  return at >= begin && at - begin <= memory->size() && bytes <= memory->size() - (at - begin);
}

Result<Arena> AllocateArena(Session& session, uint64_t bytes) {
  if (bytes == 0) return Status::InvalidArgument("AllocateShared: 0 bytes asked");
  PCC_ASSIGN_OR_RETURN(
      Frame frame, session.Call(wire::MsgType::kAllocArena, wire::Encode(wire::AllocArena{bytes}),
                                wire::MsgType::kArena, 1));
  auto reply = wire::DecodeArena(frame.payload);
  if (!reply.ok()) return session.Fail(reply.status().Annotate("kArena"));
  if (reply->bytes < bytes) {
    return session.Fail(Status::Corruption("pccheckd gave an arena of " +
                                           std::to_string(reply->bytes) + " bytes for " +
                                           std::to_string(bytes) + " asked"));
  }
  auto memory = SharedMemory::Map(frame.fds[0].release(), reply->bytes);
  if (!memory.ok()) return memory.status().Annotate("mapping an arena from pccheckd");
  return Arena{reply->arena_id, std::move(memory).value()};
}

Status AdoptArena(Session& session, Arena& arena) {
  wire::Arena mine{arena.id, arena.memory->size()};
  PCC_ASSIGN_OR_RETURN(Frame frame,
                       session.Call(wire::MsgType::kAdoptArena, wire::Encode(mine),
                                    wire::MsgType::kArena, kAnyFds, {arena.memory->fd()}));
  auto reply = wire::DecodeArena(frame.payload);
  if (!reply.ok()) return session.Fail(reply.status().Annotate("kArena"));
  if (reply->bytes != mine.bytes) {
    return session.Fail(Status::Corruption("pccheckd adopted an arena of " +
                                           std::to_string(mine.bytes) + " bytes as " +
                                           std::to_string(reply->bytes)));
  }
  arena.id = reply->arena_id;
  return Status::Ok();
}

}  // namespace pccheck::client
