// What the store tests check after a read: the stream a MemorySink received
// holds, at each tensor's offset, exactly the bytes that were saved.
#pragma once

#include <vector>

#include "catch.h"
#include "daemon/engine/engine_fixture.h"
#include "store/checkpoint_reader.h"

namespace pccheck::testing {

inline void CheckStream(const MemorySink& sink, const Manifest& m, const TensorSet& want) {
  REQUIRE(m.tensors.size() == want.data.size());
  REQUIRE(sink.data().size() == m.data_bytes);
  for (size_t i = 0; i < want.data.size(); ++i) {
    const TensorEntry& t = m.tensors[i];
    INFO("tensor " << t.name);
    CHECK(t.name == want.names[i]);
    const std::vector<uint8_t> got(sink.data().begin() + t.offset,
                                   sink.data().begin() + t.offset + t.bytes);
    CHECK(got == want.data[i]);
  }
}

}  // namespace pccheck::testing
