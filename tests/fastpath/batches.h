// What the thread-cache tests share: rounds of 64 mallocs of one size, each block touched at its
// last byte, then 64 frees, so that a class's bin fills and empties as a program's would.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>

#include "hoardlab/hoardlab.h"

namespace hoardlab::test {

inline void batch(std::size_t size, int rounds) {
  void* blocks[64];
  for (int r = 0; r < rounds; ++r) {
    for (void*& p : blocks) {
      p = hl_malloc(size);
      ASSERT_NE(p, nullptr);
      static_cast<char*>(p)[size - 1] = 1;
    }
    for (void* p : blocks)
      hl_free(p);
  }
}

} // namespace hoardlab::test
