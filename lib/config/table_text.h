// The options table as text: the README's markdown table (`hoardlab options --markdown`, kept in
// sync with README.md by a test). Layer: config.
#pragma once

#include "config/text_sink.h"

namespace hoardlab::config {

void write_markdown_table(TextSink& out) noexcept;

} // namespace hoardlab::config
