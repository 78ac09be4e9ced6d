// WaitUntil: returns once the condition holds, and says what it waited for
// when it gives up.
#include "support/wait_until.h"

#include <atomic>
#include <thread>

#include "catch.h"

namespace pccheck::testing {
namespace {

TEST_CASE("WaitUntil returns Ok at once when the condition already holds", "[support]") {
  int calls = 0;
  CHECK(WaitUntil([&] { return ++calls > 0; }, std::chrono::milliseconds(0), "nothing").ok());
  CHECK(calls == 1);
}

TEST_CASE("WaitUntil returns Ok once another thread makes the condition true", "[support]") {
  std::atomic<bool> set{false};
  std::thread setter([&] { set = true; });
  const Status s =
      WaitUntil([&] { return set.load(); }, std::chrono::seconds(30), "the flag is set");
  setter.join();
  CHECK(s.ToString() == "Ok");
}

TEST_CASE("WaitUntil gives up at its deadline and names what it waited for", "[support]") {
  const Status s = WaitUntil([] { return false; }, std::chrono::milliseconds(0), "pigs fly");
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message() == "gave up after 0 ms waiting until pigs fly");
}

}  // namespace
}  // namespace pccheck::testing
