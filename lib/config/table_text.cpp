#include "config/table_text.h"

#include "config/options.h"
#include "config/value.h"

namespace hoardlab::config {
namespace {

// Markdown cells: `|` would end the cell and `*`/`_` would start emphasis.
void put_cell(TextSink& out, const char* text, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (c == '|' || c == '*' || c == '_' || c == '<' || c == '>') out.put('\\');
    out.put(c);
  }
}

} // namespace

void write_markdown_table(TextSink& out) noexcept {
  out.put("| file key | environment variable | default | allowed | applies | description |\n");
  out.put("|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < kOptionCount; ++i) {
    const OptionInfo& info = kOptions[i];
    out.put("| `[").put(info.section).put("] ").put(info.key).put("` | `").put(info.env);
    out.put("` | ");
    if (info.default_text[0] == '\0')
      out.put("(empty)");
    else
      out.put('`').put(info.default_text).put('`');
    out.put(" | ");
    char allowed[512];
    TextSink a(allowed, sizeof(allowed));
    describe_allowed(i, a);
    put_cell(out, allowed, a.size());
    out.put(" | ").put(info.init_only ? "init" : "run time").put(" | ");
    put_cell(out, info.doc, text_length(info.doc));
    out.put(" |\n");
  }
}

} // namespace hoardlab::config
