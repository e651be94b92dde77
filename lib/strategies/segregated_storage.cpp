#include "strategies/segregated_storage.h"

#include <bit>
#include <new>
#include <type_traits>

#include "core/bits.h"

namespace hoardlab::strategies {

std::size_t SegregatedStorage::class_of(std::size_t size) noexcept {
  if (size <= 128) return size <= 16 ? 0 : (size - 1) / 16;
  // Above 128: four classes per doubling; the class is the quarter of the doubling that holds
  // size - 1 (so an exact class size maps to its own class).
  std::size_t s = size - 1;
  auto top = static_cast<std::size_t>(std::bit_width(s) - 1); // >= 7
  return 8 + (top - 7) * 4 + ((s >> (top - 2)) & 3);
}

std::size_t SegregatedStorage::class_size(std::size_t c) noexcept {
  if (c < 8) return (c + 1) * 16;
  std::size_t top = (c - 8) / 4 + 7;
  return (4 + (c - 8) % 4 + 1) << (top - 2);
}

SegregatedStorage::SegregatedStorage(std::span<std::byte> region, bool reuse_empty_pages) noexcept
    : region_begin_(region.data()), region_end_(region.data() + region.size()),
      reuse_(reuse_empty_pages) {
  static_assert(std::is_standard_layout_v<PageInfo>, "a list node must convert to its page");
  std::uintptr_t begin = core::addr(region_begin_);
  std::uintptr_t end = begin + region.size();
  std::uintptr_t info_at = core::round_up(begin, alignof(PageInfo));
  // Each page costs kPageSize bytes and one PageInfo; pages are page-aligned (to 4 KiB, so a
  // slab's slots are 16-byte aligned whatever the region's start).
  for (std::size_t n = region.size() / (kPageSize + sizeof(PageInfo)); n > 0; --n) {
    std::uintptr_t pages_at = core::round_up(info_at + n * sizeof(PageInfo), 4096);
    if (pages_at < end && (end - pages_at) / kPageSize >= n) {
      info_ = reinterpret_cast<PageInfo*>(info_at);
      pages_base_ = reinterpret_cast<std::byte*>(pages_at);
      pages_ = n;
      break;
    }
  }
}

void* SegregatedStorage::allocate(std::size_t size, std::size_t align) noexcept {
  if (!core::is_pow2(align) || align > kDefaultAlign) {
    last_error_ = Status::bad_alignment;
    return nullptr;
  }
  if (size > kMaxSize) {
    last_error_ = Status::too_large;
    return nullptr;
  }
  std::size_t c = class_of(size);
  core::IntrusiveList& partial = partial_[c];
  if (partial.empty()) {
    PageInfo* page;
    if (!pool_.empty()) {
      page = page_of(pool_.pop_front());
    } else if (carved_ < pages_) {
      page = &info_[carved_++];
    } else {
      last_error_ = Status::out_of_memory;
      return nullptr;
    }
    std::size_t i = static_cast<std::size_t>(page - info_);
    new (page) PageInfo{core::ListNode{},
                        Slab(std::span<std::byte>(page_bytes(i), kPageSize), class_size(c)),
                        static_cast<std::uint32_t>(c), 0};
    partial.push_front(&page->node);
  }
  PageInfo* page = page_of(partial.front());
  void* p = page->slab.allocate(size, align);
  if (page->slab.live() == page->slab.capacity()) partial.remove(&page->node);
  return p;
}

Status SegregatedStorage::free(void* p) noexcept {
  if (p == nullptr) return Status::ok;
  if (!in_range(p, region_begin_, region_end_)) return Status::not_in_region;
  if (pages_base_ == nullptr || !in_range(p, pages_base_, page_bytes(carved_)))
    return Status::not_a_block;
  PageInfo* page = &info_[index_of(p)];
  if (page->pooled != 0) return Status::not_a_block;
  bool was_full = page->slab.live() == page->slab.capacity();
  if (Status s = page->slab.free(p); s != Status::ok) return s;
  core::IntrusiveList& partial = partial_[page->cls];
  if (was_full) partial.push_front(&page->node);
  if (reuse_ && page->slab.live() == 0) {
    partial.remove(&page->node);
    page->pooled = 1;
    pool_.push_front(&page->node);
  }
  return Status::ok;
}

std::size_t SegregatedStorage::usable_size(void* p) const noexcept {
  if (p == nullptr || pages_base_ == nullptr || !in_range(p, pages_base_, page_bytes(carved_)))
    return 0;
  const PageInfo& page = info_[index_of(p)];
  return page.pooled != 0 ? 0 : page.slab.object_size();
}

FreeBlockStats SegregatedStorage::free_stats() const noexcept {
  FreeBlockStats s;
  for (std::size_t i = 0; i < carved_; ++i) {
    if (info_[i].pooled != 0) {
      s.add(kPageSize);
      continue;
    }
    FreeBlockStats page = info_[i].slab.free_stats(false);
    s.total_free += page.total_free;
    s.free_blocks += page.free_blocks;
    if (page.largest_free > s.largest_free) s.largest_free = page.largest_free;
    for (std::size_t b = 0; b < kHistogramBuckets; ++b)
      s.histogram[b] += page.histogram[b];
  }
  s.untouched = (pages_ - carved_) * kPageSize;
  return s;
}

std::string_view SegregatedStorage::check_invariants() const noexcept {
  std::size_t on_lists = 0, partial_pages = 0, pooled = 0;
  for (std::size_t c = 0; c < kClasses; ++c) {
    const core::IntrusiveList& list = partial_[c];
    for (const core::ListNode* n = list.front(); n != nullptr; n = list.next_of(n)) {
      const auto* page = reinterpret_cast<const PageInfo*>(n);
      if (page->cls != c) return "S2: a page is on another class's partial list";
      if (page->pooled != 0) return "S1: a pooled page is on a partial list";
      if (page->slab.live() == page->slab.capacity()) return "S1: a full page is on a partial list";
      ++on_lists;
    }
  }
  for (const core::ListNode* n = pool_.front(); n != nullptr; n = pool_.next_of(n)) {
    if (reinterpret_cast<const PageInfo*>(n)->pooled == 0)
      return "S1: an unmarked page in the pool";
    ++on_lists;
  }
  for (std::size_t i = 0; i < carved_; ++i) {
    const PageInfo& page = info_[i];
    if (page.pooled != 0) {
      ++pooled;
      continue;
    }
    if (page.slab.live() < page.slab.capacity()) ++partial_pages;
    if (reuse_ && page.slab.live() == 0) return "S1: an empty page was not returned to the pool";
  }
  if (on_lists != partial_pages + pooled) return "S1: a page with free slots is on no list";
  return "";
}

} // namespace hoardlab::strategies
