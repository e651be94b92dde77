// What a strategy reports when it refuses a request. Layer: strategies.
//
// Every strategy in this folder answers bad input with one of these values (free() returns it;
// a failed allocate() leaves it in last_error()) instead of corrupting its metadata: students
// feed these allocators deliberately wrong pointers, and the tests do too.
#pragma once

#include <string_view>

namespace hoardlab::strategies {

enum class Status {
  ok,
  out_of_memory, // no free block large enough (the region is exhausted or fragmented)
  bad_alignment, // the alignment is not a power of two, or above what the strategy supports
  too_large,     // the size can never be served (above the object size, the region, ...)
  not_in_region, // the pointer lies outside the region this allocator manages
  not_a_block,   // inside the region, but not the start of any block this allocator handed out
  double_free,   // the block is already free
  stale_handle,  // a handle whose slot has been freed (and maybe reused) since it was issued
  null_pointer,  // free(nullptr) where the strategy has no meaning for it (handles)
};

// A sentence naming the problem, for error messages and test output.
constexpr std::string_view describe(Status s) noexcept {
  switch (s) {
  case Status::ok:
    return "ok";
  case Status::out_of_memory:
    return "out of memory: no free block is large enough";
  case Status::bad_alignment:
    return "bad alignment: not a power of two, or above what this strategy supports";
  case Status::too_large:
    return "size too large for this strategy";
  case Status::not_in_region:
    return "invalid free: the pointer is outside this allocator's region";
  case Status::not_a_block:
    return "invalid free: the pointer is not the start of a block from this allocator";
  case Status::double_free:
    return "double free: the block is already free";
  case Status::stale_handle:
    return "stale handle: its slot was freed since the handle was issued";
  case Status::null_pointer:
    return "null handle or pointer";
  }
  return "unknown status";
}

} // namespace hoardlab::strategies
