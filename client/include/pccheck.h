/* libpccheck's C ABI: opaque handles, integer status codes, and a message
 * for every error. Modeled on leveldb/c.h.
 *
 * Every function that can fail returns an int status (PCCHECK_OK == 0, else
 * one of the PCCHECK_E* codes) and, when errptr is not NULL, stores a
 * malloc()ed message in *errptr (freeing any previous one); free it with
 * pccheck_free(). On success *errptr is left unchanged.
 *
 * A pccheck_client is used by one thread at a time.
 */
#ifndef PCCHECK_H_
#define PCCHECK_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  PCCHECK_OK = 0,
  PCCHECK_EINVAL = 1,
  PCCHECK_ENOTFOUND = 2,
  PCCHECK_EIO = 3,
  PCCHECK_ENOSPC = 4,
  PCCHECK_ECORRUPT = 5,
  PCCHECK_EBUSY = 6,
  PCCHECK_EABORTED = 7,
  PCCHECK_EUNAVAILABLE = 8,
  PCCHECK_EPERM = 9,
  PCCHECK_EINTERNAL = 10,
  PCCHECK_ETIMEOUT = 11
};

/* Save states returned by pccheck_poll. */
enum {
  PCCHECK_PENDING = 0,
  PCCHECK_SNAPSHOT_DONE = 1,
  PCCHECK_COMMITTED = 2,
  PCCHECK_FAILED = 3,
  /* superseded by a newer snapshot before its writing began (policy
   * coalesce): ended, never written, not an error */
  PCCHECK_COALESCED = 4
};

typedef struct pccheck_client pccheck_client;

/* socket may be NULL for the default path. */
int pccheck_connect(const char* socket, const char* job, uint32_t rank, pccheck_client** out,
                    char** errptr);
void pccheck_close(pccheck_client* c);

int pccheck_alloc_shared(pccheck_client* c, uint64_t bytes, void** out, char** errptr);

/* Registers n tensors. dtypes are strings such as "float32"; shapes[i] has
 * ndims[i] entries. */
int pccheck_register(pccheck_client* c, size_t n, const char* const* names,
                     const char* const* dtypes, const int64_t* const* shapes, const uint32_t* ndims,
                     void* const* data, const uint64_t* bytes, char** errptr);

/* Like pccheck_register, with devices[i] the CUDA device of data[i] (-1 for
 * host memory). GPU tensors are exported to the daemon through CUDA IPC
 * (their allocation base, opened once by the daemon). snapshot_gpu != 0
 * selects staging mode: each save copies the GPU tensors device-to-device into
 * a daemon-owned GPU buffer, so the tensors are free at once. Fails with
 * PCCHECK_EUNAVAILABLE when this library or the daemon has no CUDA, and with
 * PCCHECK_EINVAL naming the tensor, the cause and the fix for memory that
 * cannot be exported (PyTorch's expandable segments: set
 * PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False, or use staging mode). */
int pccheck_register_devices(pccheck_client* c, size_t n, const char* const* names,
                             const char* const* dtypes, const int64_t* const* shapes,
                             const uint32_t* ndims, void* const* data, const uint64_t* bytes,
                             const int32_t* devices, int snapshot_gpu, char** errptr);

/* GPU saves: like pccheck_save, with the "ready" point recorded on `stream`
 * (a cudaStream_t of the first GPU tensor's device; NULL = the legacy default
 * stream). Returns without waiting on the CPU unless every event slot
 * (max_inflight + 1) is taken by a save whose copies have not finished.
 * Host-only tables: pccheck_save. PCCHECK_EUNAVAILABLE without CUDA. */
int pccheck_save_on_stream(pccheck_client* c, uint64_t step, const void* blob, size_t blob_len,
                           void* stream, uint64_t* ticket, char** errptr);
/* GPU ordering before the next update: makes `stream` wait (on the GPU, not
 * the CPU) until the daemon's copies of every save so far are done (staging
 * mode: until the copy into the staging buffer is). The CPU waits only until
 * the daemon has queued those copies. Host-only tables: pccheck_before_update.
 * PCCHECK_EUNAVAILABLE without CUDA. */
int pccheck_before_update_stream(pccheck_client* c, void* stream, int timeout_ms, char** errptr);

/* Reading a store without a daemon (read-only: never cleans or changes it).
 * Opens and fully verifies `step` (step < 0: newest committed that verifies)
 * of job/rank under root, holding its tensors in memory. */
typedef struct pccheck_checkpoint pccheck_checkpoint;
int pccheck_checkpoint_open(const char* root, const char* job, uint32_t rank, int64_t step,
                            pccheck_checkpoint** out, char** errptr);
uint64_t pccheck_checkpoint_step(const pccheck_checkpoint* k);
size_t pccheck_checkpoint_tensor_count(const pccheck_checkpoint* k);
/* Tensor i: name, dtype, shape (*ndims entries), data and size. Pointers stay
 * valid until pccheck_checkpoint_close. */
int pccheck_checkpoint_tensor(const pccheck_checkpoint* k, size_t i, const char** name,
                              const char** dtype, const int64_t** shape, uint32_t* ndims,
                              const void** data, uint64_t* bytes);
void pccheck_checkpoint_blob(const pccheck_checkpoint* k, const void** blob, size_t* len);
void pccheck_checkpoint_close(pccheck_checkpoint* k);

int pccheck_save(pccheck_client* c, uint64_t step, const void* blob, size_t blob_len,
                 uint64_t* ticket, char** errptr);
int pccheck_before_update(pccheck_client* c, int timeout_ms, char** errptr);
int pccheck_wait(pccheck_client* c, uint64_t ticket, int timeout_ms, char** errptr);
int pccheck_wait_all(pccheck_client* c, int timeout_ms, char** errptr);
int pccheck_poll(pccheck_client* c, uint64_t ticket, int* state, char** errptr);
/* Waits until the newest save requested so far is durable (committed). */
int pccheck_wait_durable(pccheck_client* c, int timeout_ms, char** errptr);
/* The newest step whose snapshot is complete (in the daemon's memory or on
 * disk) and the newest durable one; *has_* is 0 when there is none. */
int pccheck_progress(pccheck_client* c, int* has_snapshot, uint64_t* snapshot_step,
                     int* has_durable, uint64_t* durable_step, char** errptr);

/* *has_step is 0 when nothing is committed. */
int pccheck_latest_step(pccheck_client* c, int* has_step, uint64_t* step, char** errptr);

/* step < 0: newest committed that verifies. On success *blob is a malloc()ed
 * copy of the user blob (free with pccheck_free) of *blob_len bytes. */
int pccheck_restore(pccheck_client* c, int64_t step, uint64_t* restored_step, char** blob,
                    size_t* blob_len, char** errptr);

/* Lists committed checkpoints: arrays of *n entries, malloc()ed, freed with
 * pccheck_free. */
int pccheck_list(pccheck_client* c, size_t* n, uint64_t** steps, uint64_t** bytes, int** latest,
                 char** errptr);

/* The daemon's status as a JSON string (malloc()ed). */
int pccheck_status_json(const char* socket, char** json, char** errptr);

void pccheck_free(void* p);
/* libpccheck's version, "MAJOR.MINOR.PATCH" (the project's version). */
const char* pccheck_version(void);

/* Where pccheckd listens and keeps its store when not told, for this user:
 * the same rules as its `socket` and `root` settings (docs/settings.md); the
 * socket path is $PCCHECK_SOCKET when set, as pccheck_connect(NULL, ...)
 * uses. *path is malloc()ed (free with pccheck_free). pccheck_default_root
 * fails with PCCHECK_ENOTFOUND when no home directory can be found. */
int pccheck_default_socket_path(char** path, char** errptr);
int pccheck_default_root(char** path, char** errptr);

#ifdef __cplusplus
}
#endif

#endif /* PCCHECK_H_ */
