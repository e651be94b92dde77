// A few freed page runs of large objects kept by the thread that freed them, in front of the
// shared run cache (large_cache.h): a malloc/free loop of one large size reuses its run without
// a shard lock, a clock read or a hash-table update. Bounded in bytes (large.thread_cache_bytes,
// never above large.cache_bytes), given to the shards at thread exit, at trim, on a failed
// mapping, before a new mapping, and at each decay sweep (by the sweeping thread). Layer: mem (used
// by large.cpp and large_cache.cpp only).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hoardlab::mem::large_thread_cache {

// A cached run of exactly `bytes` on `node` (the front of one at most a quarter longer; the rest
// stays cached), with its home shard in *home; nullptr when none fits.
char* take(std::uint32_t node, std::size_t bytes, std::uint32_t* home) noexcept;
// Takes the first `extra` bytes of the cached run of `home` that starts at `end`; false if
// there is none or it is too short.
bool extend(std::uint32_t home, char* end, std::size_t extra) noexcept;
// Keeps a freed run of home's (joined with the cached runs beside it); false when it is not
// kept (too long for the bound, an exiting thread): the caller gives it to the shards.
bool put(std::uint32_t home, char* base, std::size_t bytes) noexcept;
// Gives the calling thread's runs to the shards (trim, a failed mapping, a miss before a new
// mapping); how many it gave.
std::uint32_t flush() noexcept;
// Gives every thread's runs to the shards where the thread is not inside an operation, and asks
// the others (each decay sweep, trim): runs kept by a thread that stopped making large calls
// decay as any cached run.
void drain_all() noexcept;
// The calling thread's runs to the shards, and its cache off the registry (thread exit).
void thread_exit() noexcept;
void fork_prepare() noexcept;
void fork_parent() noexcept;
void fork_child() noexcept;
// Asks every thread to give its runs to the shards at its next large allocation or free (each
// decay sweep, trim, a lowered bound), where they decay as any cached run.
void request_flush() noexcept;
// Bytes the threads hold, each as of its last take or put: a walk over the registered caches, or
// the last walk's sum when the registry is busy (a statistic).
std::uint64_t held_bytes() noexcept;
// large.thread_cache_bytes, capped by large.cache_bytes (at every option change): every thread
// gives its runs to the shards at its next large allocation or free, so that a lowered
// large.cache_bytes is met there too.
void set_bound(std::size_t bytes) noexcept;

} // namespace hoardlab::mem::large_thread_cache
