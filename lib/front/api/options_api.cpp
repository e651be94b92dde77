// hl_option_get / hl_option_set: the options table by "section.key" at run time.
//
// Either may run while another thread's first allocation runs the allocator's init. The
// protocol is config's (options.cpp, "Protocol"): set and get take the options lock that init's
// load takes too; an init-only option is refused once load has begun (-3, and a message), and a
// run-time option is applied to the table whole under the lock, then published to the
// allocator's atomics (mem::publish_options, which reads the table under the same lock, so the
// last publish always carries the last value set, whichever of two racing sets publishes last).
#include "hoardlab/hoardlab.h"

#include "config/loader.h"
#include "config/text_sink.h"
#include "pal/env.h"

namespace hoardlab::mem {
// mem/allocator.h's publish_options (lib/mem/tunables.cpp), declared weak here: the config
// tests build this file without the allocator, and then there is no allocator to tell.
[[gnu::weak]] void publish_options() noexcept;
} // namespace hoardlab::mem

using hoardlab::config::SetResult;

extern "C" {

HOARDLAB_API int hl_option_get(const char* name, char* buf, size_t buf_size) {
  // A value never exceeds a Text option's capacity; format it whole, then copy what fits, so a
  // short buffer gets a NUL-terminated prefix.
  char text[hoardlab::config::TextValue::kCapacity + 64];
  hoardlab::config::TextSink sink(text, sizeof(text));
  if (!hoardlab::config::get_option(name, sink)) return -1;
  if (buf != nullptr && buf_size > 0) {
    std::size_t n = 0;
    for (; n + 1 < buf_size && n < sink.size(); ++n)
      buf[n] = text[n];
    buf[n] = '\0';
  }
  return 0;
}

HOARDLAB_API int hl_option_set(const char* name, const char* value) {
  char why[512];
  hoardlab::config::TextSink reason(why, sizeof(why));
  reason.put("hoardlab: hl_option_set: ");
  const SetResult r = hoardlab::config::set_option(name, value, &reason);
  switch (r) {
  case SetResult::kOk:
    // The allocator reads its own atomic copies of the run-time options.
    if (&hoardlab::mem::publish_options != nullptr) hoardlab::mem::publish_options();
    return 0;
  case SetResult::kUnknownName:
  case SetResult::kBadValue:
  case SetResult::kInitOnly:
    reason.put('\n');
    hoardlab::pal::write_stderr(reason.data(), reason.size());
    break;
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
