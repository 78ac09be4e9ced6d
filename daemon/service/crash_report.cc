#include "service/crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <initializer_list>

namespace pccheck {

namespace {

const char* g_program = "pccheck";

void WriteStr(const char* s) { (void)!::write(STDERR_FILENO, s, ::strlen(s)); }

// Only async-signal-safe calls, except backtrace(), whose one unsafe part
// (loading the unwinder) InstallCrashReport has done already.
void OnFatalSignal(int sig) {
  WriteStr(g_program);
  WriteStr(": fatal signal ");
  const char* name = ::sigabbrev_np(sig);
  WriteStr(name != nullptr ? name : "?");
  WriteStr("; backtrace (addr2line -f -C -e <binary> <+offset> names a frame):\n");
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  // SA_RESETHAND restored the default action: die of the same signal.
  ::raise(sig);
}

}  // namespace

void InstallCrashReport(const char* program) {
  g_program = program;
  void* warm[1];
  (void)::backtrace(warm, 1);
  struct sigaction sa {};
  sa.sa_handler = OnFatalSignal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace pccheck
