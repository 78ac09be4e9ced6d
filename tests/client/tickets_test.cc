// TicketBook: per-save state from completions the daemon posts, which are not
// trusted to name real saves or to come in a sensible order.
#include "catch.h"
#include "tickets.h"

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
