// The block format of the coalescing strategies (fit lists and segregated fit): Knuth's
// boundary tags. Layer: strategies.
//
// Knuth, The Art of Computer Programming vol. 1, §2.5 (Algorithm C and the "boundary tag"
// method): each block carries its size and state at both ends, so freeing a block finds both
// physical neighbours in O(1) and merges with the free ones at once. As in dlmalloc, a block's
// lower tag also holds its predecessor's state, so only free blocks need the upper tag (the
// footer) and a live block pays a 16-byte header and nothing else.
//
//   live block:  [size|flags][check][payload ...........................]
//   free block:  [size|flags][check][next_free][prev_free] ....... [size]
//                 ^ 16-byte aligned header; payload at header + 16, so 16-byte aligned
//
// check = header address ^ size_flags ^ kCheckSalt. A free() whose pointer does not lead to a
// header with a matching check word is refused as not_a_block, so a wild pointer or one into the
// middle of a block never reaches the coalescing code. A header is rewritten with its allocated
// bit clear whenever its block is freed, including when the block is merged into a free
// neighbour; so a header that checks and says "allocated" is a live block's header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::strategies::tags {

inline constexpr std::size_t kGranule = 16;
inline constexpr std::size_t kHeader = 16;
// Header, two free-list links and a footer: the smallest block that can be free.
inline constexpr std::size_t kMinBlock = 48;
inline constexpr std::size_t kAllocated = 1;
inline constexpr std::size_t kPrevAllocated = 2;
inline constexpr std::size_t kFlagMask = kGranule - 1;
inline constexpr std::uintptr_t kCheckSalt = 0x9e3779b97f4a7c15u;

struct Block {
  std::size_t size_flags;
  std::uintptr_t check;
  // Meaningful only while the block is free; a live block's payload starts here.
  Block* next_free;
  Block* prev_free;

  std::size_t size() const noexcept { return size_flags & ~kFlagMask; }
  std::size_t flags() const noexcept { return size_flags & kFlagMask; }
  bool allocated() const noexcept { return (size_flags & kAllocated) != 0; }
  bool prev_allocated() const noexcept { return (size_flags & kPrevAllocated) != 0; }
  bool valid() const noexcept { return check == (address() ^ size_flags ^ kCheckSalt); }
  std::uintptr_t address() const noexcept { return reinterpret_cast<std::uintptr_t>(this); }

  void set(std::size_t size, std::size_t flags) noexcept {
    size_flags = size | flags;
    check = address() ^ size_flags ^ kCheckSalt;
  }
  void set_flags(std::size_t flags) noexcept { set(size(), flags); }

  std::byte* bytes() noexcept { return reinterpret_cast<std::byte*>(this); }
  const std::byte* bytes() const noexcept { return reinterpret_cast<const std::byte*>(this); }
  void* payload() noexcept { return bytes() + kHeader; }
  static Block* of_payload(void* p) noexcept {
    return reinterpret_cast<Block*>(static_cast<std::byte*>(p) - kHeader);
  }
  static Block* at(std::uintptr_t a) noexcept { return reinterpret_cast<Block*>(a); }

  Block* next() noexcept { return reinterpret_cast<Block*>(bytes() + size()); }
  const Block* next() const noexcept { return reinterpret_cast<const Block*>(bytes() + size()); }
  // Only while !prev_allocated(): the predecessor's footer gives its size.
  Block* prev() noexcept {
    std::size_t prev_size = *reinterpret_cast<std::size_t*>(bytes() - sizeof(std::size_t));
    return reinterpret_cast<Block*>(bytes() - prev_size);
  }
  void write_footer() noexcept {
    *reinterpret_cast<std::size_t*>(bytes() + size() - sizeof(std::size_t)) = size();
  }
  std::size_t footer() const noexcept {
    return *reinterpret_cast<const std::size_t*>(bytes() + size() - sizeof(std::size_t));
  }
};

} // namespace hoardlab::strategies::tags
