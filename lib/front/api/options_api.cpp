// hl_option_get / hl_option_set: the options table by "section.key" at run time.
#include "hoardlab/hoardlab.h"

#include "config/loader.h"
#include "config/text_sink.h"
#include "core/spin_lock.h"

namespace hoardlab::mem {
// mem/allocator.h's publish_options (lib/mem/tunables.cpp), declared weak here: the config
// tests build this file without the allocator, and then there is no allocator to tell.
[[gnu::weak]] void publish_options() noexcept;
} // namespace hoardlab::mem

using hoardlab::config::SetResult;

namespace {
// Serializes hl_option_set and hl_option_get: the options table's fields are plain, written by
// set and read by get; the allocator itself reads only mem's atomic copies (publish_options).
constinit hoardlab::core::SpinLock g_options_lock;
} // namespace

extern "C" {

HOARDLAB_API int hl_option_get(const char* name, char* buf, size_t buf_size) {
  // A value never exceeds a Text option's capacity; format it whole, then copy what fits, so a
  // short buffer gets a NUL-terminated prefix.
  char text[hoardlab::config::TextValue::kCapacity + 64];
  hoardlab::config::TextSink sink(text, sizeof(text));
  {
    hoardlab::core::SpinGuard guard(g_options_lock);
    if (!hoardlab::config::get_option(name, sink)) return -1;
  }
  if (buf != nullptr && buf_size > 0) {
    std::size_t n = 0;
    for (; n + 1 < buf_size && n < sink.size(); ++n)
      buf[n] = text[n];
    buf[n] = '\0';
  }
  return 0;
}

HOARDLAB_API int hl_option_set(const char* name, const char* value) {
  SetResult r = SetResult::kBadValue;
  {
    hoardlab::core::SpinGuard guard(g_options_lock);
    r = hoardlab::config::set_option(name, value);
    // The allocator reads its own atomic copies of the run-time options.
    if (r == SetResult::kOk && &hoardlab::mem::publish_options != nullptr)
      hoardlab::mem::publish_options();
  }
  switch (r) {
  case SetResult::kOk:
    return 0;
  case SetResult::kUnknownName:
    return -1;
  case SetResult::kBadValue:
    return -2;
  case SetResult::kInitOnly:
    return -3;
  }
  return -2;
}

} // extern "C"
