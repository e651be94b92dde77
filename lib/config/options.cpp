// Placeholder store: the table's defaults. The parser (environment and file) replaces load().
#include "config/options.h"

namespace hoardlab::config {
namespace {
constinit Options g_options{};
} // namespace

const Options& options() noexcept {
  return g_options;
}
void load() noexcept {}

} // namespace hoardlab::config
