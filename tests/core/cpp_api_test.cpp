// The C++ interface: hoardlab::allocator<T> and the std::pmr resource.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory_resource>
#include <string>
#include <vector>

#include "hoardlab/hoardlab.hpp"

namespace {

struct alignas(128) Wide {
  char bytes[128];
};

TEST(CppAllocator, ServesStandardContainersFromTheAllocator) {
  std::vector<int, hoardlab::allocator<int>> v;
  for (int i = 0; i < 10000; ++i)
    v.push_back(i);
  EXPECT_EQ(hl_owns(v.data()), 1);
  EXPECT_EQ(v[9999], 9999);
  std::map<int, int, std::less<>, hoardlab::allocator<std::pair<const int, int>>> m;
  for (int i = 0; i < 1000; ++i)
    m[i] = i * 2;
  EXPECT_EQ(m[500], 1000);
}

TEST(CppAllocator, HonoursOverAlignedTypes) {
  std::vector<Wide, hoardlab::allocator<Wide>> v(10);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data()) % 128, 0u);
}

TEST(CppAllocator, ThrowsBadArrayNewLengthOnOverflow) {
  hoardlab::allocator<std::uint64_t> a;
  EXPECT_THROW((void)a.allocate(SIZE_MAX / 4), std::bad_array_new_length);
  EXPECT_TRUE(a == hoardlab::allocator<char>());
}

TEST(PmrResource, BacksPmrContainersAndComparesEqualToItself) {
  std::pmr::vector<std::pmr::string> v(hoardlab::resource());
  for (int i = 0; i < 1000; ++i)
    v.emplace_back(std::string(100, static_cast<char>('a' + i % 26)));
  EXPECT_EQ(hl_owns(v.data()), 1);
  EXPECT_EQ(hl_owns(v[10].data()), 1);
  EXPECT_TRUE(hoardlab::resource()->is_equal(*hoardlab::resource()));
  EXPECT_FALSE(hoardlab::resource()->is_equal(*std::pmr::new_delete_resource()));
  void* p = hoardlab::resource()->allocate(100, 256);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, 0u);
  hoardlab::resource()->deallocate(p, 100, 256);
}

} // namespace
