// hl_option_get / hl_option_set: the options table by "section.key" at run time.
#include "hoardlab/hoardlab.h"

#include "config/loader.h"
#include "config/text_sink.h"

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
  switch (hoardlab::config::set_option(name, value)) {
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
