#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace pccheck::cli {

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { Finish(); }

void Progress::SetTotal(uint64_t total) { total_ = total; }

void Progress::Add(uint64_t done) {
  if (!enabled_) return;
  done_ += done;
  Draw(false);
}

void Progress::Finish() {
  if (!enabled_) return;
  Draw(true);
}

void Progress::Draw(bool final) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const uint64_t done = done_.load();
  const uint64_t total = total_.load();
  const double frac = total ? std::min(1.0, static_cast<double>(done) / total) : 0.0;
  if (final && !tty_ && last_decile_ == 10) {  // the 100% line is out already
    finished_ = true;
    return;
  }
  if (!final) {
    if (tty_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    if (!tty_) {
      const int decile = static_cast<int>(frac * 10);
      if (decile == last_decile_ || total == 0) return;
      last_decile_ = decile;
    }
  }
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double mbps = secs > 0 ? done / secs / 1e6 : 0;
  std::string line = label_ + "  ";
  if (total) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    line += HumanBytes(done) + " / " + HumanBytes(total);
  } else {
    line += HumanBytes(done);
  }
  char rate[32];
  std::snprintf(rate, sizeof rate, "  %.0f MB/s", mbps);
  line += rate;
  if (final) {
    finished_ = true;
    std::fprintf(stderr, tty_ ? "\r%s\033[K\n" : "%s\n", line.c_str());
  } else {
    std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace pccheck::cli
