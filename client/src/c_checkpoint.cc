// The C ABI's offline reader (pccheck_checkpoint_*, see pccheck.h): the
// store's own reader (daemon/store/checkpoint_reader.h) filling memory, behind
// an opaque handle. No daemon is involved; the store is never changed.
#include <memory>

#include "c_guard.h"
#include "io/file_system.h"
#include "pccheck.h"
#include "store/checkpoint_reader.h"

using pccheck::Status;

struct pccheck_checkpoint {
  pccheck::Manifest manifest;
  pccheck::MemorySink data;  // the data stream; tensors point into it
};

extern "C" {

int pccheck_checkpoint_open(const char* root, const char* job, uint32_t rank, int64_t step,
                            pccheck_checkpoint** out, char** errptr) {
  return pccheck::capi::Guard(errptr, [&]() -> Status {
    if (out == nullptr) return Status::InvalidArgument("pccheck_checkpoint_open: out is NULL");
    *out = nullptr;
    if (root == nullptr || job == nullptr) {
      return Status::InvalidArgument("pccheck_checkpoint_open: root and job must not be NULL");
    }
    pccheck::ReadRequest request;
    request.root = root;
    request.job = job;
    request.rank = rank;
    if (step >= 0) request.step = static_cast<uint64_t>(step);
    auto fs = pccheck::NewPosixFileSystem();
    auto k = std::make_unique<pccheck_checkpoint>();
    PCC_ASSIGN_OR_RETURN(pccheck::ReadResult read,
                         pccheck::ReadStoredCheckpoint(fs.get(), request, &k->data));
    k->manifest = std::move(read.checkpoint.manifest);
    *out = k.release();
    return Status::Ok();
  });
}

uint64_t pccheck_checkpoint_step(const pccheck_checkpoint* k) {
  return k == nullptr ? 0 : k->manifest.step;
}

size_t pccheck_checkpoint_tensor_count(const pccheck_checkpoint* k) {
  return k == nullptr ? 0 : k->manifest.tensors.size();
}

int pccheck_checkpoint_tensor(const pccheck_checkpoint* k, size_t i, const char** name,
                              const char** dtype, const int64_t** shape, uint32_t* ndims,
                              const void** data, uint64_t* bytes) {
  if (k == nullptr || i >= k->manifest.tensors.size()) return PCCHECK_EINVAL;
  const pccheck::TensorEntry& t = k->manifest.tensors[i];
  if (name != nullptr) *name = t.name.c_str();
  if (dtype != nullptr) *dtype = t.dtype.c_str();
  if (shape != nullptr) *shape = t.shape.data();
  if (ndims != nullptr) *ndims = static_cast<uint32_t>(t.shape.size());
  if (data != nullptr) *data = k->data.data().data() + t.offset;
  if (bytes != nullptr) *bytes = t.bytes;
  return PCCHECK_OK;
}

void pccheck_checkpoint_blob(const pccheck_checkpoint* k, const void** blob, size_t* len) {
  if (blob != nullptr) *blob = k == nullptr ? nullptr : k->manifest.user_blob.data();
  if (len != nullptr) *len = k == nullptr ? 0 : k->manifest.user_blob.size();
}

void pccheck_checkpoint_close(pccheck_checkpoint* k) { delete k; }

}  // extern "C"
