// How libpccheck words the errors it makes itself, in one place, so that the
// C ABI and the tests can recognize them.
#pragma once

#include <cstdint>
#include <string>

#include "pccheck/status.h"

namespace pccheck::client {

// Timeout "timed out after N ms waiting for <what>". A wait that runs out is
// not a failure of the save: the save may still commit later.
Status Timeout(const std::string& what, int timeout_ms);
// True for a timeout (Code::kTimeout), whatever context Annotate() added.
bool IsTimeout(const Status& status);

// Unavailable "pccheckd at SOCKET is not reachable: REASON (start it with
// `pccheckd --socket SOCKET`)".
Status Unreachable(const std::string& socket, const std::string& reason);

// A code received from the daemon (kError, kFailed) as a Status; codes this
// library does not know become Internal, naming the number.
Status FromWire(uint32_t code, const std::string& message);

}  // namespace pccheck::client
