// InstallCrashReport: on a fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
// SIGABRT) the process writes one line naming the signal and a backtrace to
// stderr (the journal, under systemd), then dies of the same signal, so that
// a crash leaves more than a closed socket behind. The frames name functions
// of shared libraries; frames in the executable read "pccheckd(+0xOFFSET)",
// which `addr2line -f -C -e pccheckd 0xOFFSET` turns into a function and line.
//
// Call once, early, from the main thread.
#pragma once

namespace pccheck {

void InstallCrashReport(const char* program);

}  // namespace pccheck
