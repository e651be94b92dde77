// Run preloaded with HOARDLAB_HEAP_SUPERBLOCK_SIZE=4MiB: lowers its own RLIMIT_AS to what is
// mapped plus 3 MiB, less than one superblock, so that only the superblock the allocator reserved
// at start-up exists and no other can be reserved, then allocates small blocks of eight classes
// (most of which need a superblock of their own) through malloc, calloc, realloc and
// posix_memalign, writes them, frees them and allocates them again. Prints "ok ..." and exits 0
// when every request was served; otherwise names the one that failed and exits 1.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace {

int fail(const char* what, std::size_t size) {
  std::printf("FAILED: %s of %zu bytes (errno %d)\n", what, size, errno);
  return 1;
}

// The process's mapped bytes (/proc/self/statm's first field), 0 when unreadable.
std::size_t mapped_bytes() {
  char text[128] = {};
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return 0;
  return std::strtoull(text, nullptr, 10) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

constexpr int kClasses = 8;
constexpr int kPerClass = 4;
void* blocks[kClasses][kPerClass];

int allocate_all(int round) {
  for (int c = 0; c < kClasses; ++c) {
    const std::size_t size = 48 + 80 * static_cast<std::size_t>(c); // 48 .. 608: 8 classes
    for (int i = 0; i < kPerClass; ++i) {
      void* p = nullptr;
      switch ((c + i + round) % 3) {
      case 0:
        p = std::malloc(size);
        break;
      case 1:
        p = std::calloc(1, size);
        if (p != nullptr)
          for (std::size_t b = 0; b < size; ++b)
            if (static_cast<unsigned char*>(p)[b] != 0) return fail("calloc (not zero)", size);
        break;
      default:
        if (posix_memalign(&p, 64, size) != 0) p = nullptr;
        if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 64 != 0)
          return fail("posix_memalign (misaligned)", size);
        break;
      }
      if (p == nullptr) return fail("an allocation", size);
      std::memset(p, 0x5a, size);
      blocks[c][i] = p;
    }
  }
  // A small block grown by realloc keeps its contents.
  void* q = std::realloc(blocks[0][0], 700);
  if (q == nullptr) return fail("realloc", 700);
  for (int b = 0; b < 48; ++b)
    if (static_cast<unsigned char*>(q)[b] != 0x5a) return fail("realloc (contents lost)", 700);
  blocks[0][0] = q;
  return 0;
}

void free_all() {
  for (auto& row : blocks)
    for (void*& p : row) {
      std::free(p);
      p = nullptr;
    }
}

} // namespace

int main() {
  const std::size_t mapped = mapped_bytes();
  if (mapped == 0) return fail("reading /proc/self/statm", 0);
  const rlimit limit{mapped + (std::size_t{3} << 20), mapped + (std::size_t{3} << 20)};
  if (setrlimit(RLIMIT_AS, &limit) != 0) return fail("setrlimit", limit.rlim_cur);
  for (int round = 0; round < 3; ++round) {
    if (const int rc = allocate_all(round)) return rc;
    free_all();
  }
  std::printf("ok classes=%d rounds=3\n", kClasses);
  return 0;
}
