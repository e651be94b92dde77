// The malloc family's and operator new/delete's semantics, checked inside a process that runs
// on the malloc under test: main() re-executes the test program with LD_PRELOAD when malloc
// does not already resolve into the library under test.
#include "process.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <malloc.h>
#include <new>
#include <set>
#include <sys/resource.h>
#include <unistd.h>
#include <vector>

// These tests hand a block to realloc and then read it, on purpose: a failed realloc leaves the
// block valid, and that is what they check.
#pragma GCC diagnostic ignored "-Wuse-after-free"

namespace hoardlab::dropin {
namespace {

bool aligned_to(const void* p, std::size_t a) {
  return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

// Sizes the compiler cannot see, so it keeps calls it would otherwise fold or warn about.
std::size_t opaque(std::size_t v) {
  volatile std::size_t x = v;
  return x;
}

template <typename F>
F optional_symbol(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
}

TEST(Malloc, ResolvesIntoTheLibraryUnderTest) {
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(dlsym(RTLD_DEFAULT, "malloc")), &info), 0);
  EXPECT_EQ(real_path(info.dli_fname), real_path(library_under_test()));
  for (const char* name : {"free", "calloc", "realloc", "posix_memalign", "aligned_alloc",
                           "memalign", "valloc", "pvalloc", "malloc_usable_size", "_Znwm", "_ZdlPv",
                           "_ZnwmSt11align_val_t", "_ZdlPvmSt11align_val_t"}) {
    void* sym = dlsym(RTLD_DEFAULT, name);
    ASSERT_NE(sym, nullptr) << name;
    ASSERT_NE(dladdr(sym, &info), 0) << name;
    if (library_is_hoardlab()) {
      EXPECT_EQ(real_path(info.dli_fname), real_path(library_under_test())) << name;
    }
  }
}

TEST(Malloc, ZeroBytesReturnsUniqueBlocks) {
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) {
    void* p = std::malloc(opaque(0));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(seen.insert(p).second) << "malloc(0) returned a block twice";
    blocks.push_back(p);
  }
  for (void* p : blocks)
    std::free(p);
}

TEST(Malloc, SizesAbovePtrdiffMaxFailWithEnomem) {
  for (std::size_t n : {std::size_t{PTRDIFF_MAX} + 1, SIZE_MAX, SIZE_MAX - 4096}) {
    errno = 0;
    EXPECT_EQ(std::malloc(opaque(n)), nullptr) << n;
    EXPECT_EQ(errno, ENOMEM) << n;
  }
}

TEST(Malloc, ResultsAreSixteenByteAlignedAndUsableToTheirUsableSize) {
  for (std::size_t n = 1; n < 70000; n = n * 3 / 2 + 1) {
    auto* p = static_cast<unsigned char*>(std::malloc(opaque(n)));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned_to(p, 16)) << n;
    const std::size_t usable = malloc_usable_size(p);
    EXPECT_GE(usable, n);
    std::memset(p, 0xa5, usable);
    std::free(p);
  }
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
}

TEST(Malloc, LargeBlocksKeepTheirContentsThroughRealloc) {
  auto* p = static_cast<unsigned char*>(std::malloc(opaque(1 << 20)));
  ASSERT_NE(p, nullptr);
  for (std::size_t i = 0; i < (1u << 20); ++i)
    p[i] = static_cast<unsigned char>(i ^ (i >> 8));
  for (std::size_t n : {std::size_t{8} << 20, std::size_t{64} << 20, std::size_t{3} << 20}) {
    p = static_cast<unsigned char*>(std::realloc(p, n));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < (1u << 20); i += 4093)
      ASSERT_EQ(p[i], static_cast<unsigned char>(i ^ (i >> 8))) << n;
  }
  std::free(p);
}

TEST(Free, NullIsANoOpAndErrnoIsPreserved) {
  errno = 12345;
  std::free(nullptr);
  EXPECT_EQ(errno, 12345);
  for (std::size_t n : {16u, 1000u, 100000u, 5000000u}) {
    void* p = std::malloc(opaque(n));
    ASSERT_NE(p, nullptr);
    errno = 777;
    std::free(p);
    EXPECT_EQ(errno, 777) << n;
  }
}

TEST(Calloc, ProductOverflowFailsWithEnomem) {
  errno = 0;
  EXPECT_EQ(std::calloc(opaque(SIZE_MAX / 2 + 2), 2), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(std::calloc(opaque(std::size_t{1} << 32), std::size_t{1} << 32), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Calloc, ReturnsZeroedMemoryEvenWhereABlockWasDirtied) {
  for (std::size_t n : {24u, 256u, 4000u, 40000u, 300000u}) {
    for (int round = 0; round < 50; ++round) {
      auto* dirty = static_cast<unsigned char*>(std::malloc(opaque(n)));
      ASSERT_NE(dirty, nullptr);
      std::memset(dirty, 0xff, n);
      std::free(dirty);
      auto* p = static_cast<unsigned char*>(std::calloc(1, opaque(n)));
      ASSERT_NE(p, nullptr);
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(p[i], 0) << "calloc(" << n << ") byte " << i;
      std::free(p);
    }
  }
}

TEST(Realloc, NullIsMallocAndZeroFreesAndReturnsNull) {
  void* p = std::realloc(nullptr, opaque(100));
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, 100);
  // glibc (REALLOC_ZERO_BYTES_FREES): realloc(p, 0) frees p and returns NULL.
  EXPECT_EQ(std::realloc(p, opaque(0)), nullptr);
}

TEST(Realloc, PreservesContentsWhileGrowingAndShrinking) {
  std::size_t n = 10;
  auto* p = static_cast<unsigned char*>(std::malloc(n));
  for (std::size_t i = 0; i < n; ++i)
    p[i] = static_cast<unsigned char>(i);
  for (std::size_t next : {20u, 100u, 3000u, 50000u, 200000u, 70u, 5u}) {
    p = static_cast<unsigned char*>(std::realloc(p, opaque(next)));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < std::min(n, next); ++i)
      ASSERT_EQ(p[i], static_cast<unsigned char>(i)) << n << " -> " << next;
    for (std::size_t i = n; i < next; ++i)
      p[i] = static_cast<unsigned char>(i);
    n = next;
  }
  std::free(p);
}

TEST(Realloc, HugeSizeFailsWithEnomemAndKeepsTheBlock) {
  auto* p = static_cast<unsigned char*>(std::malloc(64));
  std::memset(p, 0x42, 64);
  errno = 0;
  EXPECT_EQ(std::realloc(p, opaque(SIZE_MAX - 100)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(p[i], 0x42);
  std::free(p);
}

TEST(Reallocarray, OverflowFailsWithEnomemAndKeepsTheBlock) {
  void* p = std::malloc(32);
  errno = 0;
  EXPECT_EQ(reallocarray(p, opaque(SIZE_MAX / 4), 8), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* q = reallocarray(p, opaque(10), 100);
  ASSERT_NE(q, nullptr);
  EXPECT_GE(malloc_usable_size(q), 1000u);
  std::free(q);
}

TEST(PosixMemalign, RejectsBadAlignmentsWithEinvalAndLeavesTheOutputAlone) {
  for (std::size_t a : {0u, 1u, 2u, 4u, 12u, 24u, 48u, 100u}) {
    void* out = reinterpret_cast<void*>(0x1234);
    EXPECT_EQ(posix_memalign(&out, opaque(a), 16), EINVAL) << a;
    EXPECT_EQ(out, reinterpret_cast<void*>(0x1234)) << a;
  }
}

TEST(PosixMemalign, AlignsEveryPowerOfTwoUpToSixteenMebibytes) {
  for (std::size_t a = sizeof(void*); a <= (std::size_t{16} << 20); a *= 2) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, a / 2 + 1, a, 3 * a + 5}) {
      void* p = nullptr;
      ASSERT_EQ(posix_memalign(&p, a, opaque(n)), 0) << a << " " << n;
      EXPECT_TRUE(aligned_to(p, a)) << a << " " << n;
      EXPECT_GE(malloc_usable_size(p), n);
      if (n > 0) std::memset(p, 0x77, n);
      std::free(p);
    }
  }
}

TEST(PosixMemalign, HugeSizeReturnsEnomem) {
  void* out = nullptr;
  EXPECT_EQ(posix_memalign(&out, 64, opaque(SIZE_MAX - 10)), ENOMEM);
}

TEST(AlignedAlloc, RoundsAnAlignmentThatIsNotAPowerOfTwoUpAsGlibc236Does) {
  // glibc 2.36's aligned_alloc is memalign: 24 becomes 32, 100 becomes 128.
  for (auto [a, expect] : {std::pair<std::size_t, std::size_t>{24, 32},
                           {100, 128},
                           {3000, 4096},
                           {64, 64},
                           {1 << 16, 1 << 16}}) {
    void* p = aligned_alloc(opaque(a), 100);
    ASSERT_NE(p, nullptr) << a;
    EXPECT_TRUE(aligned_to(p, expect)) << a;
    std::free(p);
  }
  errno = 0;
  EXPECT_EQ(aligned_alloc(opaque(SIZE_MAX / 2 + 2), 16), nullptr);
  EXPECT_EQ(errno, EINVAL);
}

TEST(Memalign, SmallAlignmentsAreMallocAndLargeOnesHold) {
  for (std::size_t a : {0u, 1u, 8u, 16u, 32u, 4096u, 65536u, 1u << 21}) {
    void* p = memalign(opaque(a), 1000);
    ASSERT_NE(p, nullptr) << a;
    EXPECT_TRUE(aligned_to(p, a < 16 ? 16 : a)) << a;
    std::memset(p, 1, 1000);
    std::free(p);
  }
  errno = 0;
  EXPECT_EQ(memalign(64, opaque(SIZE_MAX - 1000)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(Valloc, ReturnsPageAlignedBlocks) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  for (std::size_t n : {1u, 100u, 4096u, 10000u}) {
    void* p = valloc(opaque(n));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned_to(p, page));
    std::free(p);
  }
}

TEST(Pvalloc, RoundsTheSizeUpToWholePagesWithAnOverflowCheck) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  for (std::size_t n : {0u, 1u, 4095u, 4096u, 4097u, 20000u}) {
    void* p = pvalloc(opaque(n));
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(aligned_to(p, page));
    const std::size_t rounded = (n + page - 1) / page * page;
    EXPECT_GE(malloc_usable_size(p), rounded) << n;
    std::memset(p, 3, rounded);
    std::free(p);
  }
  errno = 0;
  EXPECT_EQ(pvalloc(opaque(SIZE_MAX - 10)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(FreeSized, SizedAndAlignedSizedFreesAcceptBlocksAndWrongSizes) {
  using FreeSized = void (*)(void*, std::size_t);
  using FreeAlignedSized = void (*)(void*, std::size_t, std::size_t);
  auto free_sized = optional_symbol<FreeSized>("free_sized");
  auto free_aligned_sized = optional_symbol<FreeAlignedSized>("free_aligned_sized");
  if (free_sized == nullptr || free_aligned_sized == nullptr)
    GTEST_SKIP() << "the library under test does not export free_sized/free_aligned_sized";
  for (int i = 0; i < 1000; ++i) {
    void* p = std::malloc(opaque(100 + i));
    free_sized(p, 100 + i);
    void* q = std::malloc(opaque(5000));
    free_sized(q, 16); // a wrong hint must not corrupt anything
    void* r = aligned_alloc(256, opaque(512));
    free_aligned_sized(r, 256, 512);
  }
  free_sized(nullptr, 10);
  void* check = std::malloc(5000);
  std::memset(check, 0, 5000);
  std::free(check);
}

TEST(MallocTrim, ReturnsZeroOrOneAfterFreeingMuch) {
  std::vector<void*> blocks;
  for (int i = 0; i < 20000; ++i)
    blocks.push_back(std::malloc(opaque(200)));
  for (void* p : blocks)
    std::free(p);
  const int r = malloc_trim(0);
  EXPECT_TRUE(r == 0 || r == 1) << r;
}

TEST(Mallinfo2, CountsBytesInUse) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "the peer does not provide mallinfo2";
  const struct mallinfo2 before = mallinfo2();
  void* p = std::malloc(opaque(8 << 20));
  std::memset(p, 1, 8 << 20);
  const struct mallinfo2 during = mallinfo2();
  EXPECT_GE(during.uordblks, before.uordblks + (8u << 20) - 4096);
  EXPECT_GE(during.arena, during.uordblks);
  std::free(p);
}

TEST(MallocStats, PrintsTheStatisticsSummaryToStderr) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "peer output differs";
  char path[] = "/tmp/hoardlab-malloc-stats.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const int saved = dup(2);
  dup2(fd, 2);
  malloc_stats();
  dup2(saved, 2);
  close(saved);
  close(fd);
  const std::string text = read_file(path);
  unlink(path);
  EXPECT_NE(text.find("alloc"), std::string::npos) << text;
}

// ---- operator new / delete ----

int g_handler_calls = 0;
void counting_handler() {
  if (++g_handler_calls == 3) std::set_new_handler(nullptr);
}
void throwing_handler() {
  ++g_handler_calls;
  throw std::bad_alloc();
}

TEST(OperatorNew, CallsTheNewHandlerUntilItIsRemovedThenThrowsBadAlloc) {
  g_handler_calls = 0;
  std::set_new_handler(counting_handler);
  EXPECT_THROW(static_cast<void>(::operator new(opaque(SIZE_MAX - 4096))), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 3);
  g_handler_calls = 0;
  std::set_new_handler(counting_handler);
  EXPECT_THROW(static_cast<void>(::operator new[](opaque(SIZE_MAX / 2), std::align_val_t{64})),
               std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 3);
  std::set_new_handler(nullptr);
}

TEST(OperatorNew, NothrowFormsReturnNullWhenTheHandlerThrows) {
  g_handler_calls = 0;
  std::set_new_handler(throwing_handler);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX - 4096), std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX - 4096), std::nothrow), nullptr);
  EXPECT_EQ(::operator new (opaque(SIZE_MAX - 4096), std::align_val_t{128}, std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX - 4096), std::align_val_t{128}, std::nothrow),
            nullptr);
  EXPECT_EQ(g_handler_calls, 4);
  std::set_new_handler(nullptr);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX - 4096), std::nothrow), nullptr);
}

// A handler that makes room lets the retry succeed, in the throwing and the nothrow forms (the
// shim's nothrow forms run the handler loop inside the C++ runtime's catch, cxx_runtime.h).
// The room is address space: RLIMIT_AS a little above what the process maps, lifted by the
// handler.
rlimit g_saved_address_limit{};
void room_making_handler() {
  ++g_handler_calls;
  setrlimit(RLIMIT_AS, &g_saved_address_limit);
}

std::size_t mapped_bytes() {
  const std::string status = read_file("/proc/self/status");
  const std::size_t at = status.find("VmSize:");
  return at == std::string::npos ? 0 : std::strtoull(status.c_str() + at + 7, nullptr, 10) << 10;
}

TEST(OperatorNew, TheRetryAfterAHandlerThatMadeRoomSucceedsInEveryForm) {
  ASSERT_EQ(getrlimit(RLIMIT_AS, &g_saved_address_limit), 0);
  const std::size_t size = std::size_t{1} << 30;
  const auto al = std::align_val_t{256};
  using Form = void* (*)(std::size_t);
  const Form forms[] = {
      [](std::size_t n) { return ::operator new(n); },
      [](std::size_t n) { return ::operator new[](n, std::nothrow); },
      [](std::size_t n) { return ::operator new (n, std::align_val_t{256}); },
      [](std::size_t n) { return ::operator new[](n, std::align_val_t{256}, std::nothrow); },
  };
  for (int i = 0; i < 4; ++i) {
    const std::size_t mapped = mapped_bytes();
    ASSERT_GT(mapped, 0u);
    const rlimit tight{mapped + (std::size_t{64} << 20), g_saved_address_limit.rlim_max};
    ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
    g_handler_calls = 0;
    std::set_new_handler(room_making_handler);
    void* p = forms[i](opaque(size));
    std::set_new_handler(nullptr);
    setrlimit(RLIMIT_AS, &g_saved_address_limit);
    EXPECT_NE(p, nullptr) << "form " << i;
    EXPECT_EQ(g_handler_calls, 1) << "form " << i;
    switch (i) {
    case 0:
      ::operator delete(p);
      break;
    case 1:
      ::operator delete[](p);
      break;
    case 2:
      ::operator delete(p, al);
      break;
    default:
      ::operator delete[](p, al);
      break;
    }
  }
}

TEST(OperatorNew, AllEightFormsAllocateAndAllTwelveDeletesFree) {
  for (std::size_t a : {32u, 64u, 4096u, 1u << 16}) {
    const auto al = std::align_val_t{a};
    void* p[8] = {
        ::operator new(opaque(100)),
        ::operator new[](opaque(200)),
        ::operator new(opaque(300), std::nothrow),
        ::operator new[](opaque(400), std::nothrow),
        ::operator new(opaque(500), al),
        ::operator new[](opaque(600), al),
        ::operator new(opaque(700), al, std::nothrow),
        ::operator new[](opaque(800), al, std::nothrow),
    };
    for (int i = 0; i < 8; ++i) {
      ASSERT_NE(p[i], nullptr) << i;
      std::memset(p[i], i, 100 * (i + 1));
    }
    for (int i = 4; i < 8; ++i)
      EXPECT_TRUE(aligned_to(p[i], a)) << i << " " << a;
    ::operator delete(p[0]);
    ::operator delete[](p[1]);
    ::operator delete(p[2], std::nothrow);
    ::operator delete[](p[3], std::nothrow);
    ::operator delete(p[4], al);
    ::operator delete[](p[5], al);
    ::operator delete(p[6], al, std::nothrow);
    ::operator delete[](p[7], al, std::nothrow);
    void* q[4] = {::operator new(opaque(64)), ::operator new[](opaque(64)),
                  ::operator new(opaque(64), al), ::operator new[](opaque(64), al)};
    ::operator delete (q[0], std::size_t{64});
    ::operator delete[](q[1], std::size_t{64});
    ::operator delete (q[2], std::size_t{64}, al);
    ::operator delete[](q[3], std::size_t{64}, al);
  }
}

TEST(OperatorDelete, SizedDeleteWithAWrongSizeDoesNotCorruptTheHeap) {
  // A delete through a base class without a virtual destructor passes the base's size.
  std::vector<void*> kept;
  for (int i = 0; i < 2000; ++i) {
    void* p = ::operator new(opaque(1000 + i % 64));
    ::operator delete (p, std::size_t{16});
    void* q = ::operator new(opaque(24));
    ::operator delete (q, std::size_t{100000});
    kept.push_back(::operator new(opaque(1000)));
    std::memset(kept.back(), 0x5e, 1000);
  }
  for (void* p : kept) {
    for (int i = 0; i < 1000; ++i)
      ASSERT_EQ(static_cast<unsigned char*>(p)[i], 0x5e);
    ::operator delete(p);
  }
}

} // namespace
} // namespace hoardlab::dropin

// Runs the tests in a process whose malloc is the library under test: re-executes itself with
// LD_PRELOAD unless malloc already resolves there (or a test list is asked for, which must
// work even when the library under test cannot load).
int main(int argc, char** argv) {
  using namespace hoardlab::dropin;
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--gtest_list_tests", 18) == 0) listing = true;
  const char* marker = std::getenv("HOARDLAB_DROPIN_SEMANTICS_CHILD");
  if (!listing && marker == nullptr) {
    std::string lib;
    try {
      lib = library_under_test();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dropin_semantics_test: %s\n", e.what());
      return 2;
    }
    setenv("LD_PRELOAD", lib.c_str(), 1);
    setenv("HOARDLAB_DROPIN_SEMANTICS_CHILD", "1", 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr, "cannot re-execute under LD_PRELOAD=%s: %s\n", lib.c_str(),
                 std::strerror(errno));
    return 2;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
