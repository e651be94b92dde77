// hl_option_get / hl_option_set by "section.key".
#include <gtest/gtest.h>

#include "config/loader.h"
#include "config/options.h"
#include "hoardlab/hoardlab.h"

#include <string>

namespace {

std::string get(const char* name) {
  char buffer[300];
  EXPECT_EQ(hl_option_get(name, buffer, sizeof(buffer)), 0) << name;
  return buffer;
}

TEST(OptionApi, GetWritesTheValueAsTextAndRefusesUnknownNames) {
  EXPECT_EQ(get("heap.emptiness_f"), "1/4");
  EXPECT_EQ(get("remote.policy"), "superblock-list");
  char buffer[8];
  EXPECT_EQ(hl_option_get("heap.nonsense", buffer, sizeof(buffer)), -1);
  EXPECT_EQ(hl_option_get("nodot", buffer, sizeof(buffer)), -1);
  EXPECT_EQ(hl_option_get(nullptr, buffer, sizeof(buffer)), -1);
}

TEST(OptionApi, GetTruncatesToTheBufferAndTerminatesIt) {
  char buffer[4];
  ASSERT_EQ(hl_option_get("remote.policy", buffer, sizeof(buffer)), 0);
  EXPECT_STREQ(buffer, "sup");
}

TEST(OptionApi, SetChangesARunTimeOptionAndReturnsCodesForBadInput) {
  EXPECT_EQ(hl_option_set("heap.emptiness_f", "1/8"), 0);
  EXPECT_EQ(hoardlab::config::options().heap_emptiness_f, 0.125);
  EXPECT_EQ(get("heap.emptiness_f"), "1/8");
  EXPECT_EQ(hl_option_set("heap.emptiness_f", "2"), -2);
  EXPECT_EQ(hoardlab::config::options().heap_emptiness_f, 0.125); // unchanged
  EXPECT_EQ(hl_option_set("heap.emptiness_g", "1/8"), -1);
  EXPECT_EQ(hl_option_set("heap.emptiness_f", nullptr), -2);
  EXPECT_EQ(hl_option_set("heap.emptiness_f", "1/4"), 0);
}

std::string why_refused(const char* name, const char* value) {
  char text[512];
  hoardlab::config::TextSink sink(text, sizeof(text));
  EXPECT_NE(hoardlab::config::set_option(name, value, &sink), hoardlab::config::SetResult::kOk);
  return std::string(sink.data(), sink.size());
}

TEST(OptionApi, ARefusedSetSaysWhyNamingTheOptionTheValueAndWhatIsAllowed) {
  EXPECT_EQ(why_refused("heap.emptiness_f", "2"),
            "heap.emptiness_f = \"2\": out of range; allowed: a fraction from 0 to 0.99 (\"1/8\" "
            "or \"0.125\"); unchanged");
  EXPECT_EQ(why_refused("heap.mapping_x", "cpu"),
            "unknown option 'heap.mapping_x'; names are section.key, as `hoardlab options` lists "
            "them");
}

// Runs last in this file: once the options are loaded, init-only options are frozen.
TEST(OptionApi, InitOnlyOptionsChangeBeforeLoadAndNotAfter) {
  if (!hoardlab::config::loaded()) {
    EXPECT_EQ(hl_option_set("heap.superblock_size", "128KiB"), 0);
    EXPECT_EQ(hoardlab::config::options().heap_superblock_size, 128u * 1024);
    EXPECT_EQ(hl_option_set("heap.superblock_size", "64KiB"), 0);
    // A threshold above S/2 is refused whole, never half-applied.
    EXPECT_EQ(hl_option_set("large.threshold", "64KiB"), -2);
    EXPECT_EQ(hoardlab::config::options().large_threshold, 16u * 1024); // the default
    hoardlab::config::load();
  }
  EXPECT_EQ(hl_option_set("heap.superblock_size", "128KiB"), -3);
  EXPECT_EQ(hl_option_set("heap.emptiness_k", "3"), 0);
  EXPECT_EQ(hoardlab::config::options().heap_emptiness_k, 3);
}

} // namespace
