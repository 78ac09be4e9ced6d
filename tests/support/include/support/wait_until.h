// WaitUntil: the one way a test waits for a condition it cannot be told
// about by an event (a counter in another thread, a daemon's status).
//
// It checks `done` at once, then again after pauses that grow from 1 ms to
// 50 ms, until `done` holds or `timeout` passes. The timeout is a deadline
// against hanging, never a measurement: tests assert on what happened, not
// on how long it took.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "pccheck/status.h"

namespace pccheck::testing {

// Ok once `done()` returned true; Unavailable saying
// "gave up after N ms waiting until <what>" when the timeout passed first.
Status WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                 const std::string& what);

}  // namespace pccheck::testing
