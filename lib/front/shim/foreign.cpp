// Recognising glibc's blocks, and what to do with everything that is not hoardlab's.
// Layer: front (shim). Cold path only: mem::owner_of() has already said kForeign.
#include "front/shim/foreign.h"

#include "config/options.h"
#include "core/atomic.h"
#include "pal/env.h"

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

// Exported by libc.so.6 (GLIBC_2.2.5): glibc's allocator under names that interposition does
// not reach, so a glibc block goes back to glibc even though `free` resolves to us.
extern "C" void __libc_free(void* p);
extern "C" void* __libc_realloc(void* p, std::size_t size);
extern "C" struct mallinfo __libc_mallinfo();

namespace hoardlab::front {
namespace {

// glibc's chunk layout on x86-64 (malloc/malloc.c, "malloc_chunk details"): the user pointer
// is 16 bytes past the chunk; the word before it holds the chunk size with three flag bits.
constexpr std::uintptr_t kSizeSz = sizeof(std::size_t);
constexpr std::uintptr_t kMallocAlignment = 16;
constexpr std::uintptr_t kMinChunk = 32;
constexpr std::uintptr_t kPrevInUse = 0x1;
constexpr std::uintptr_t kIsMmapped = 0x2;
constexpr std::uintptr_t kNonMainArena = 0x4;
constexpr std::uintptr_t kFlags = 0x7;
// Non-main arenas live in heaps aligned to HEAP_MAX_SIZE = 2 * DEFAULT_MMAP_THRESHOLD_MAX.
constexpr std::uintptr_t kHeapMaxSize = 64u << 20;

std::uintptr_t page_size() noexcept {
  return static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
}

// True when every page of [begin, end) is mapped. mincore fails with ENOMEM on a hole, which
// is the one question we ask of it: reading a header of an unmapped page would fault.
bool mapped(std::uintptr_t begin, std::uintptr_t end) noexcept {
  const std::uintptr_t page = page_size();
  const std::uintptr_t first = begin & ~(page - 1);
  const std::uintptr_t last = (end + page - 1) & ~(page - 1);
  if (last <= first) return false;
  unsigned char residency[64];
  for (std::uintptr_t at = first; at < last;) {
    std::uintptr_t pages = (last - at) / page;
    if (pages > sizeof(residency)) pages = sizeof(residency);
    if (mincore(reinterpret_cast<void*>(at), pages * page, residency) != 0) return false;
    at += pages * page;
  }
  return true;
}

// The line of /proc/self/maps that contains addr: its start, end and whether it is [heap]
// (glibc's main arena, grown by brk). Read through a small stack buffer, line by line, so the
// parse allocates nothing and two threads never share a buffer.
struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  bool is_brk_heap = false;
};

std::uintptr_t parse_hex(const char*& s, const char* end) noexcept {
  std::uintptr_t v = 0;
  for (; s < end; ++s) {
    const char c = *s;
    unsigned digit;
    if (c >= '0' && c <= '9')
      digit = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      digit = static_cast<unsigned>(c - 'a' + 10);
    else
      break;
    v = v * 16 + digit;
  }
  return v;
}

bool ends_with_heap(const char* line, const char* end) noexcept {
  constexpr char kTag[] = "[heap]";
  constexpr std::size_t kLen = sizeof(kTag) - 1;
  if (static_cast<std::size_t>(end - line) < kLen) return false;
  for (std::size_t i = 0; i < kLen; ++i)
    if (end[-static_cast<std::ptrdiff_t>(kLen) + static_cast<std::ptrdiff_t>(i)] != kTag[i])
      return false;
  return true;
}

bool find_mapping(std::uintptr_t addr, Mapping& out) noexcept {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[4096];
  std::size_t filled = 0;
  bool found = false;
  for (;;) {
    const ssize_t got = read(fd, buffer + filled, sizeof(buffer) - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    filled += static_cast<std::size_t>(got);
    std::size_t consumed = 0;
    for (;;) {
      const char* line = buffer + consumed;
      const char* limit = buffer + filled;
      const char* nl = line;
      while (nl < limit && *nl != '\n')
        ++nl;
      if (nl == limit) break;
      const char* s = line;
      const std::uintptr_t start = parse_hex(s, nl);
      if (s < nl && *s == '-') ++s;
      const std::uintptr_t end = parse_hex(s, nl);
      if (addr >= start && addr < end) {
        out.start = start;
        out.end = end;
        out.is_brk_heap = ends_with_heap(line, nl);
        found = true;
        break;
      }
      consumed = static_cast<std::size_t>(nl + 1 - buffer);
    }
    if (found) break;
    // Keep the unfinished line; a maps line is far shorter than the buffer.
    std::size_t rest = filled - consumed;
    for (std::size_t i = 0; i < rest; ++i)
      buffer[i] = buffer[consumed + i];
    filled = rest;
    if (filled == sizeof(buffer)) break;
  }
  close(fd);
  return found;
}

// Has glibc's allocator ever handed out memory in this process? When it has not (the usual
// case under LD_PRELOAD), no pointer can be glibc's and the chunk checks are skipped.
bool glibc_has_allocated() noexcept {
  const struct mallinfo info = __libc_mallinfo();
  return info.arena != 0 || info.hblks != 0;
}

std::size_t read_word(std::uintptr_t at) noexcept {
  return *reinterpret_cast<const volatile std::size_t*>(at);
}

constinit core::Atomic<std::size_t> g_refused{0};
constinit core::Atomic<bool> g_reported{false};

void report_unknown(const char* function, const void* p) noexcept {
  g_refused.fetch_add_relaxed(1);
  if (config::verbosity() < 1) return; // general.verbose may change at run time: its atomic copy
  bool expected = false;
  if (!g_reported.cas_strong_acq_rel(expected, true)) return; // report once per process
  char text[160];
  std::size_t n = 0;
  auto put = [&](const char* s) {
    while (*s != '\0' && n < sizeof(text))
      text[n++] = *s++;
  };
  put("hoardlab: ");
  put(function);
  put("(): pointer 0x");
  char hex[2 * sizeof(std::uintptr_t) + 1];
  std::uintptr_t v = reinterpret_cast<std::uintptr_t>(p);
  for (int i = static_cast<int>(sizeof(hex)) - 2; i >= 0; --i, v >>= 4)
    hex[i] = "0123456789abcdef"[v & 0xf];
  hex[sizeof(hex) - 1] = '\0';
  put(hex);
  put(" belongs neither to hoardlab nor to glibc; left alone (reported once)\n");
  pal::write_stderr(text, n);
}

} // namespace

// The checks mirror what glibc itself relies on, so a pointer that passes them is one that
// glibc's free would accept:
//  - glibc has allocated at all; p is 16-byte aligned; the header word before p is mapped;
//  - mmapped chunk (IS_MMAPPED): chunk - prev_size is page-aligned, the chunk plus that offset
//    is a whole number of pages (glibc's munmap_chunk check), and all of it lies inside one
//    mapping (not necessarily at its start: the kernel merges neighbouring anonymous maps);
//  - main-arena chunk: it lies inside [heap] (the brk heap), and the next chunk's PREV_INUSE
//    bit says this one is in use;
//  - non-main-arena chunk: its 64 MiB-aligned heap_info starts a mapping, the chunk ends inside
//    it, and the next chunk's PREV_INUSE bit is set.
bool glibc_owns(const void* p) noexcept {
  const int saved_errno = errno;
  bool owned = false;
  const auto user = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t chunk = user - 2 * kSizeSz;
  if (user >= 4096 && (user & (kMallocAlignment - 1)) == 0 && mapped(chunk, user) &&
      glibc_has_allocated()) {
    const std::size_t size_field = read_word(chunk + kSizeSz);
    const std::uintptr_t size = size_field & ~kFlags;
    Mapping m;
    if (size_field & kIsMmapped) {
      const std::uintptr_t prev = read_word(chunk);
      const std::uintptr_t block = chunk - prev;
      const std::uintptr_t page = page_size();
      owned = prev <= chunk && ((block | (prev + size)) & (page - 1)) == 0 && size >= page &&
              find_mapping(block, m) && block + prev + size <= m.end;
    } else if (size >= kMinChunk && (size & (kMallocAlignment - 1)) == 0 && chunk + size > chunk &&
               mapped(chunk + size, chunk + size + 2 * kSizeSz)) {
      const bool next_says_in_use = (read_word(chunk + size + kSizeSz) & kPrevInUse) != 0;
      if (next_says_in_use && find_mapping(chunk, m)) {
        if (size_field & kNonMainArena) {
          const std::uintptr_t heap = chunk & ~(kHeapMaxSize - 1);
          Mapping hm;
          owned = find_mapping(heap, hm) && hm.start == heap && chunk + size <= m.end;
        } else {
          owned = m.is_brk_heap && chunk + size <= m.end;
        }
      }
    }
  }
  errno = saved_errno;
  return owned;
}

void foreign_free(void* p) noexcept {
  if (glibc_owns(p)) {
    __libc_free(p); // glibc >= 2.33 preserves errno in free
    return;
  }
  const int saved_errno = errno;
  report_unknown("free", p);
  errno = saved_errno;
}

void* foreign_realloc(void* p, std::size_t size) noexcept {
  if (glibc_owns(p)) return __libc_realloc(p, size);
  report_unknown("realloc", p);
  errno = ENOMEM;
  return nullptr;
}

std::size_t foreign_usable_size(const void* p) noexcept {
  if (!glibc_owns(p)) {
    const int saved_errno = errno;
    report_unknown("malloc_usable_size", p);
    errno = saved_errno;
    return 0;
  }
  // glibc's musable(): an mmapped chunk has no following chunk to lend it its first word.
  const auto chunk = reinterpret_cast<std::uintptr_t>(p) - 2 * kSizeSz;
  const std::size_t size_field = read_word(chunk + kSizeSz);
  const std::size_t size = size_field & ~kFlags;
  return (size_field & kIsMmapped) ? size - 2 * kSizeSz : size - kSizeSz;
}

std::size_t foreign_refused() noexcept {
  return g_refused.load_relaxed();
}

} // namespace hoardlab::front
