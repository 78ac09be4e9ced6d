// A stand-in for libFuzzer so that every build runs the fuzz targets: feeds
// LLVMFuzzerTestOneInput mutated seeds (from the target's optional FuzzSeeds())
// and random inputs, deterministically from a seed.
//
//   fuzz_<name>_driver [iterations=20000] [seed=1]
//
// A target reports a failure by aborting; the driver then prints the input in
// hex and the iteration, so the same arguments reproduce it. Exit status is
// non-zero on any failure.
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Defined by targets that have valid encodings to start from.
std::vector<std::string> FuzzSeeds() __attribute__((weak));

// Inputs here are small, so a huge allocation means a length was trusted before
// it was bounded: fail on it rather than let overcommit hide it.
constexpr size_t kMaxAllocation = 64 << 20;

void* operator new(size_t n) {
  if (n > kMaxAllocation) {
    std::fprintf(stderr, "fuzz driver: allocation of %zu bytes\n", n);
    std::abort();
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace {

std::string g_input;  // the input being run, for the crash report
long g_iteration = -1;

void Say(const char* s, size_t n) { (void)!write(2, s, n); }
void Say(const char* s) { Say(s, std::strlen(s)); }

void ReportCrash(int sig) {  // async-signal-safe: write() and strlen() only
  static const char hex[] = "0123456789abcdef";
  char num[24];
  size_t at = sizeof(num);
  long v = g_iteration < 0 ? 0 : g_iteration;
  do num[--at] = hex[v % 10];
  while ((v /= 10) > 0);
  Say("\nfuzz driver: crashed at ");
  if (g_iteration < 0) {
    Say("a seed input");
  } else {
    Say("iteration ");
    Say(num + at, sizeof(num) - at);
  }
  Say(", input (hex):\n");
  for (unsigned char c : g_input) {
    char pair[2] = {hex[c >> 4], hex[c & 15]};
    Say(pair, 2);
  }
  Say("\n");
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

using Rng = std::mt19937_64;

size_t Below(Rng& rng, size_t n) { return n == 0 ? 0 : rng() % n; }

// Values that sit on the edges of length and size checks.
uint64_t Interesting(Rng& rng) {
  static const uint64_t values[] = {0,
                                    1,
                                    2,
                                    3,
                                    4,
                                    7,
                                    8,
                                    16,
                                    17,
                                    32,
                                    33,
                                    4095,
                                    4096,
                                    4097,
                                    0x7F,
                                    0xFF,
                                    0x7FFF,
                                    0xFFFF,
                                    0x7FFFFFFF,
                                    0x80000000,
                                    0xFFFFFFFF,
                                    0x100000000,
                                    0x7FFFFFFFFFFFFFFF,
                                    0x8000000000000000,
                                    ~uint64_t{0},
                                    268435456,
                                    268435457};
  return values[Below(rng, sizeof(values) / sizeof(values[0]))];
}

void Mutate(std::string& s, const std::vector<std::string>& seeds, Rng& rng) {
  switch (rng() % 7) {
    case 0:  // flip a bit
      if (!s.empty()) s[Below(rng, s.size())] ^= static_cast<char>(1 << Below(rng, 8));
      break;
    case 1:  // set a byte
      if (!s.empty()) s[Below(rng, s.size())] = static_cast<char>(rng());
      break;
    case 2: {  // overwrite a little-endian field with an edge value
      size_t width = (rng() % 2) ? 4 : 8;
      if (s.size() < width) break;
      size_t at = Below(rng, s.size() - width + 1);
      uint64_t v = Interesting(rng);
      for (size_t i = 0; i < width; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
      break;
    }
    case 3:  // truncate
      s.resize(Below(rng, s.size() + 1));
      break;
    case 4: {  // insert random bytes
      std::string extra(1 + Below(rng, 16), '\0');
      for (char& c : extra) c = static_cast<char>(rng());
      s.insert(Below(rng, s.size() + 1), extra);
      break;
    }
    case 5: {  // erase a range
      size_t at = Below(rng, s.size() + 1);
      s.erase(at, 1 + Below(rng, 16));
      break;
    }
    default: {  // splice in part of another seed
      if (seeds.empty()) break;
      const std::string& other = seeds[Below(rng, seeds.size())];
      size_t from = Below(rng, other.size() + 1);
      s.insert(Below(rng, s.size() + 1), other.substr(from, Below(rng, 64)));
      break;
    }
  }
}

std::string NextInput(const std::vector<std::string>& seeds, Rng& rng) {
  std::string s;
  if (!seeds.empty() && rng() % 10 < 7) {
    s = seeds[Below(rng, seeds.size())];
    for (size_t n = 1 + Below(rng, 4); n > 0; --n) Mutate(s, seeds, rng);
  } else {
    s.resize(Below(rng, 512));
    for (char& c : s) c = static_cast<char>(rng());
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  const unsigned long seed = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1;
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, ReportCrash);

  const std::vector<std::string> seeds = FuzzSeeds ? FuzzSeeds() : std::vector<std::string>{};
  for (const std::string& s : seeds) {
    g_input = s;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  Rng rng(seed);
  for (g_iteration = 0; g_iteration < iterations; ++g_iteration) {
    g_input = NextInput(seeds, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(g_input.data()), g_input.size());
  }
  std::printf("fuzz driver: %ld inputs (seed %lu), no failures\n", iterations, seed);
  return 0;
}
