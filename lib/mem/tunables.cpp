// The run-time-settable options, copied into atomics the allocator reads (state.h, Tunables).
#include "config/options.h"
#include "mem/allocator.h"
#include "mem/large.h"
#include "mem/state.h"

namespace hoardlab::mem {

// Reads the table under the options lock (config/options.cpp, "Protocol"), so a set racing this
// copy is either all in it or published again by its own caller right after. Called at init and
// after each accepted hl_option_set; two racing callers may copy in either order, and each copies
// the table as it stands, so the last copy holds the last value set.
void publish_options() noexcept {
  config::with_options([](const config::Options& o) {
    Tunables& t = g.tune;
    t.emptiness_f.store_relaxed(o.heap_emptiness_f);
    t.emptiness_k.store_relaxed(static_cast<std::uint32_t>(o.heap_emptiness_k));
    t.drain_threshold.store_relaxed(static_cast<std::uint32_t>(o.heap_drain_threshold));
    t.cache_batch.store_relaxed(static_cast<std::uint32_t>(o.cache_batch));
    t.remote_batch.store_relaxed(static_cast<std::uint32_t>(o.remote_batch));
    t.remote_policy.store_relaxed(o.remote_policy);
    t.verbose.store_relaxed(static_cast<std::uint32_t>(o.general_verbose));
    // general.checked turns the thread caches off: a block freed into a cache could be freed
    // again there unseen, so under checked every free reaches checked_free (checked.cpp).
    t.checked.store_relaxed(o.general_checked);
    t.cache_bytes.store_relaxed(o.general_checked ? 0 : static_cast<std::uint64_t>(o.cache_bytes));
    t.retain_superblocks.store_relaxed(static_cast<std::uint64_t>(o.purge_retain_superblocks));
    t.purge_delay_ms.store_relaxed(static_cast<std::uint64_t>(o.purge_delay_ms));
    large::set_cache_bound(static_cast<std::size_t>(o.large_cache_bytes));
  });
}

} // namespace hoardlab::mem
