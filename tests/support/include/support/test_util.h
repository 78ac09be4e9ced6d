// Helpers shared by the tests: temporary directories and deterministic data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pccheck::testing {

// A fresh directory under $TMPDIR (or /tmp on the same disk as the build),
// removed with everything in it when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The whole content of a text file; empty when it cannot be read.
std::string ReadTextFile(const std::string& path);

// n bytes of deterministic pseudo-random data from seed.
std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed);

// Starts args[0] with args as its argv, its stdout and stderr appended to
// log_path; returns its pid, or -1 when fork failed (errno says why).
int SpawnLogged(const std::vector<std::string>& args, const std::string& log_path);

// The build root (found from the test binary's own path): binaries are
// under daemon/, client/, tests/.
std::string BuildDir();

}  // namespace pccheck::testing
