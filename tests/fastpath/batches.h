// What the thread-cache tests share: an option set for one test, and rounds of 64 mallocs of one
// size, each block touched at its last byte, then 64 frees, so that a class's bin fills and
// empties as a program's would.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "hoardlab/hoardlab.h"

namespace hoardlab::test {

// Sets an option for one test and puts back the value it had.
class OptionScope {
public:
  OptionScope(const char* name, const char* value) : name_(name) {
    char text[64];
    EXPECT_EQ(hl_option_get(name, text, sizeof(text)), 0);
    before_ = text;
    EXPECT_EQ(hl_option_set(name, value), 0) << name << " = " << value;
  }
  ~OptionScope() { EXPECT_EQ(hl_option_set(name_, before_.c_str()), 0); }
  OptionScope(const OptionScope&) = delete;
  OptionScope& operator=(const OptionScope&) = delete;

private:
  const char* name_;
  std::string before_;
};

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
