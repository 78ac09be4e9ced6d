/* A toy trainer in C on pccheck.h: one tensor in shared memory, one in
 * ordinary memory; save every K steps, then restore the newest checkpoint
 * and check it bit for bit.
 *
 *   train_c JOB [SOCKET] [STEPS] [EVERY]
 *
 * Exits 0 when the restore matches, 1 when it does not, 2 on other errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pccheck.h"

#define N_WEIGHTS (1u << 18)
#define N_BIAS 1000u

static uint32_t value(uint64_t step, uint32_t which, uint32_t i) {
  uint64_t z = step * 0x9E3779B97F4A7C15ull + which * 0xD1B54A32D192ED03ull + i;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (uint32_t)(z ^ (z >> 31));
}

static void fill(uint32_t* data, uint32_t n, uint64_t step, uint32_t which) {
  for (uint32_t i = 0; i < n; ++i) data[i] = value(step, which, i);
}

static int matches(const uint32_t* data, uint32_t n, uint64_t step, uint32_t which) {
  for (uint32_t i = 0; i < n; ++i) {
    if (data[i] != value(step, which, i)) return 0;
  }
  return 1;
}

static int fail(const char* what, char* err) {
  fprintf(stderr, "%s: %s\n", what, err != NULL ? err : "(no message)");
  pccheck_free(err);
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s JOB [SOCKET] [STEPS] [EVERY]\n", argv[0]);
    return 2;
  }
  const char* job = argv[1];
  const char* socket = argc > 2 ? argv[2] : NULL;
  uint64_t steps = argc > 3 ? strtoull(argv[3], NULL, 10) : 20;
  uint64_t every = argc > 4 ? strtoull(argv[4], NULL, 10) : 5;
  if (every == 0) every = 1;

  char* err = NULL;
  pccheck_client* c = NULL;
  if (pccheck_connect(socket, job, 0, &c, &err) != PCCHECK_OK) return fail("connect", err);

  void* shared = NULL;
  if (pccheck_alloc_shared(c, N_WEIGHTS * 4, &shared, &err) != PCCHECK_OK) {
    pccheck_close(c);
    return fail("alloc_shared", err);
  }
  uint32_t* weights = shared;
  static uint32_t bias[N_BIAS];
  const char* names[] = {"weights", "bias"};
  const char* dtypes[] = {"uint32", "uint32"};
  const int64_t weights_shape[] = {N_WEIGHTS};
  const int64_t bias_shape[] = {N_BIAS};
  const int64_t* shapes[] = {weights_shape, bias_shape};
  const uint32_t ndims[] = {1, 1};
  void* data[] = {weights, bias};
  const uint64_t bytes[] = {N_WEIGHTS * 4, N_BIAS * 4};
  if (pccheck_register(c, 2, names, dtypes, shapes, ndims, data, bytes, &err) != PCCHECK_OK) {
    pccheck_close(c);
    return fail("register", err);
  }

  for (uint64_t step = 1; step <= steps; ++step) {
    if (pccheck_before_update(c, -1, &err) != PCCHECK_OK) {
      fprintf(stderr, "before step %llu: %s\n", (unsigned long long)step, err);
    }
    fill(weights, N_WEIGHTS, step, 0);
    fill(bias, N_BIAS, step, 1);
    if (step % every == 0) {
      char blob[32];
      int len = snprintf(blob, sizeof(blob), "step=%llu", (unsigned long long)step);
      uint64_t ticket = 0;
      if (pccheck_save(c, step, blob, (size_t)len, &ticket, &err) != PCCHECK_OK) {
        fprintf(stderr, "save of step %llu: %s\n", (unsigned long long)step, err);
      }
    }
  }
  if (pccheck_wait_all(c, -1, &err) != PCCHECK_OK) fprintf(stderr, "wait_all: %s\n", err);

  int has_step = 0;
  uint64_t latest = 0;
  if (pccheck_latest_step(c, &has_step, &latest, &err) != PCCHECK_OK) {
    pccheck_close(c);
    return fail("latest_step", err);
  }
  if (pccheck_before_update(c, -1, &err) != PCCHECK_OK) fprintf(stderr, "%s\n", err);
  memset(weights, 0, N_WEIGHTS * 4);
  memset(bias, 0, sizeof(bias));
  uint64_t restored = 0;
  char* blob = NULL;
  size_t blob_len = 0;
  if (pccheck_restore(c, -1, &restored, &blob, &blob_len, &err) != PCCHECK_OK) {
    pccheck_close(c);
    return fail("restore", err);
  }
  char expect[32];
  int expect_len = snprintf(expect, sizeof(expect), "step=%llu", (unsigned long long)restored);
  int ok = has_step && restored == latest && matches(weights, N_WEIGHTS, restored, 0) &&
           matches(bias, N_BIAS, restored, 1) && blob_len == (size_t)expect_len &&
           memcmp(blob, expect, blob_len) == 0;
  printf("restore step=%llu %s\n", (unsigned long long)restored, ok ? "verified" : "MISMATCH");
  pccheck_free(blob);
  pccheck_free(err);
  pccheck_close(c);
  return ok ? 0 : 1;
}
