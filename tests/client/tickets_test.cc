// TicketBook: per-save state from completions the daemon posts, which are not
// trusted to name real saves or to come in a sensible order.
#include "tickets.h"

#include "catch.h"

namespace pccheck::client {
namespace {

wire::CompletionMsg Msg(wire::RingType type, uint64_t seq, uint32_t code = 0) {
  return {type, seq, 0, code, code ? "disk on fire" : ""};
}

TEST_CASE("completions move a save through its states", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 10, 1u);
  CHECK(book.AnySnapshotPending());
  CHECK(book.BlobSlotBusy(1));
  book.Apply(Msg(wire::RingType::kSnapshotDone, 1));
  CHECK_FALSE(book.AnySnapshotPending());
  CHECK_FALSE(book.BlobSlotBusy(1));
  CHECK(book.AnyUnfinished());
  book.Apply(Msg(wire::RingType::kCommitted, 1));
  CHECK_FALSE(book.AnyUnfinished());
  CHECK(book.Find(1).value()->state == SaveState::kCommitted);
  CHECK(book.TakeUnreportedFailure().ok());
}

TEST_CASE("completions naming no save, or a finished one, are ignored", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 10, std::nullopt);
  book.Apply(Msg(wire::RingType::kCommitted, 99));
  book.Apply(Msg(wire::RingType::kFailed, 0, 5));
  book.Apply(Msg(wire::RingType::kCommitted, 1));
  book.Apply(Msg(wire::RingType::kFailed, 1, 3));  // too late: it committed
  CHECK(book.Find(1).value()->state == SaveState::kCommitted);
  CHECK(book.Find(99).status().code() == Code::kNotFound);
}

TEST_CASE("a failure before the snapshot is reported once to BeforeUpdate", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 10, std::nullopt);
  book.Apply(Msg(wire::RingType::kFailed, 1, static_cast<uint32_t>(Code::kBusy)));
  Status s = book.TakeSnapshotFailure();
  CHECK(s.code() == Code::kBusy);
  CHECK(s.message() == "save of step 10: disk on fire");
  CHECK(book.TakeSnapshotFailure().ok());
  CHECK(book.TakeUnreportedFailure().code() == Code::kBusy);
  CHECK(book.TakeUnreportedFailure().ok());
}

TEST_CASE("a save superseded by a newer commit is not reported as a failure", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 10, std::nullopt);
  book.Add(2, 20, std::nullopt);
  book.Add(3, 30, std::nullopt);
  const auto aborted = static_cast<uint32_t>(Code::kAborted);
  book.Apply(Msg(wire::RingType::kFailed, 1, aborted));  // lost to step 20
  book.Apply(Msg(wire::RingType::kCommitted, 2));
  book.Apply(Msg(wire::RingType::kFailed, 3, aborted));  // newer than every commit
  Status s = book.TakeUnreportedFailure();
  CHECK(s.code() == Code::kAborted);
  CHECK(s.message() == "save of step 30: disk on fire");
  CHECK(book.TakeUnreportedFailure().ok());

  // Aborted with nothing newer committed, or failed otherwise: a failure.
  TicketBook alone;
  alone.Add(1, 10, std::nullopt);
  alone.Apply(Msg(wire::RingType::kFailed, 1, aborted));
  CHECK(alone.TakeUnreportedFailure().code() == Code::kAborted);
  TicketBook io;
  io.Add(1, 10, std::nullopt);
  io.Add(2, 20, std::nullopt);
  io.Apply(Msg(wire::RingType::kFailed, 1, static_cast<uint32_t>(Code::kIoError)));
  io.Apply(Msg(wire::RingType::kCommitted, 2));
  CHECK(io.TakeUnreportedFailure().code() == Code::kIoError);
}

TEST_CASE("an unknown error code from the daemon becomes Internal", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 10, std::nullopt);
  book.Apply(Msg(wire::RingType::kFailed, 1, 777));
  CHECK(book.Find(1).value()->status.code() == Code::kInternal);
}

TEST_CASE("a lost daemon fails unfinished saves only", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 10, std::nullopt);
  book.Add(2, 20, std::nullopt);
  book.Apply(Msg(wire::RingType::kCommitted, 1));
  book.FailUnfinished([](uint64_t step) { return Status::Unavailable(std::to_string(step)); });
  CHECK(book.Find(1).value()->state == SaveState::kCommitted);
  CHECK(book.Find(2).value()->status.message() == "20");
  CHECK(book.TakeSnapshotFailure().ok());  // the call that saw the loss reported it
}

TEST_CASE("old finished saves are forgotten, unfinished ones never", "[client][tickets]") {
  TicketBook book;
  book.Add(1, 1, std::nullopt);  // stays pending
  for (uint64_t seq = 2; seq < TicketBook::kKeepFinished + 10; ++seq) {
    book.Add(seq, seq, std::nullopt);
    book.Apply(Msg(wire::RingType::kCommitted, seq));
  }
  CHECK(book.Find(1).ok());
  book.Apply(Msg(wire::RingType::kCommitted, 1));
  book.Add(TicketBook::kKeepFinished + 20, 0, std::nullopt);
  CHECK(book.Find(1).status().code() == Code::kNotFound);
}

}  // namespace
}  // namespace pccheck::client
