// The run-time-settable options, copied into atomics the allocator reads (state.h, Tunables).
#include "config/options.h"
#include "mem/allocator.h"
#include "mem/large.h"
#include "mem/state.h"

namespace hoardlab::mem {

void publish_options() noexcept {
  const config::Options& o = config::options();
  Tunables& t = g.tune;
  t.emptiness_f.store_relaxed(o.heap_emptiness_f);
  t.emptiness_k.store_relaxed(static_cast<std::uint32_t>(o.heap_emptiness_k));
  t.drain_threshold.store_relaxed(static_cast<std::uint32_t>(o.heap_drain_threshold));
  t.cache_batch.store_relaxed(static_cast<std::uint32_t>(o.cache_batch));
  t.remote_batch.store_relaxed(static_cast<std::uint32_t>(o.remote_batch));
  t.verbose.store_relaxed(static_cast<std::uint32_t>(o.general_verbose));
  t.cache_bytes.store_relaxed(static_cast<std::uint64_t>(o.cache_bytes));
  t.retain_superblocks.store_relaxed(static_cast<std::uint64_t>(o.purge_retain_superblocks));
  t.purge_delay_ms.store_relaxed(static_cast<std::uint64_t>(o.purge_delay_ms));
  large::set_cache_bound(static_cast<std::size_t>(o.large_cache_bytes));
}

} // namespace hoardlab::mem
