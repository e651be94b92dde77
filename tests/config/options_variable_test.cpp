// HOARDLAB_OPTIONS: many options in one variable, its place between the file and the options'
// own variables, and its messages (config/loader.h).
#include <gtest/gtest.h>

#include "test_util.h"

#include <cstdlib>
#include <string>

namespace hoardlab::config {
namespace {

using testing::from_environment;
using testing::value_text;
using testing::write_temp_file;

std::string source_of(const Provenance& from) {
  return describe(from.source);
}

TEST(OptionsVariable, SetsEachOptionItNamesAndSaysWhereTheValueCameFrom) {
  const auto l = from_environment({"HOARDLAB_OPTIONS=heap.emptiness_f=1/8,cache.bytes=64KiB"});
  EXPECT_EQ(l->count(), 0u) << l->text();
  EXPECT_EQ(l->options.heap_emptiness_f, 0.125);
  EXPECT_EQ(l->options.cache_bytes, 64u * 1024);
  EXPECT_EQ(source_of(l->provenance[index_of(OptionId::heap_emptiness_f)]),
            "from HOARDLAB_OPTIONS");
  EXPECT_EQ(source_of(l->provenance[index_of(OptionId::cache_bytes)]), "from HOARDLAB_OPTIONS");
  EXPECT_EQ(source_of(l->provenance[index_of(OptionId::heap_emptiness_k)]), "default");
}

TEST(OptionsVariable, BlanksAroundEntriesAndEmptyEntriesAreIgnored) {
  const auto l = from_environment(
      {"HOARDLAB_OPTIONS= heap.mapping = thread-hash ,, numa.topology=pack:1 numa:2 core:1 pu:1,"});
  EXPECT_EQ(l->count(), 0u) << l->text();
  EXPECT_EQ(value_text(l->options, OptionId::heap_mapping), "thread-hash");
  EXPECT_STREQ(l->options.numa_topology.value, "pack:1 numa:2 core:1 pu:1");
}

TEST(OptionsVariable, SitsBetweenTheFileAndTheOptionsOwnVariables) {
  const std::string path = write_temp_file("options_variable.toml", "[heap]\n"
                                                                    "emptiness_k = 2\n"
                                                                    "fullness_groups = 3\n");
  const auto l = from_environment({"HOARDLAB_CONFIG=" + path,
                                   "HOARDLAB_OPTIONS=heap.emptiness_k=5,cache.bytes=64KiB",
                                   "HOARDLAB_CACHE_BYTES=128KiB"});
  EXPECT_EQ(l->count(), 0u) << l->text();
  EXPECT_EQ(l->options.heap_fullness_groups, 3);  // the file alone
  EXPECT_EQ(l->options.heap_emptiness_k, 5);      // HOARDLAB_OPTIONS over the file
  EXPECT_EQ(l->options.cache_bytes, 128u * 1024); // its own variable over HOARDLAB_OPTIONS
  EXPECT_EQ(source_of(l->provenance[index_of(OptionId::heap_emptiness_k)]),
            "from HOARDLAB_OPTIONS");
  EXPECT_EQ(source_of(l->provenance[index_of(OptionId::cache_bytes)]), "from the environment");
}

TEST(OptionsVariable, AnUnknownKeyIsNamedWithASuggestion) {
  const auto l = from_environment({"HOARDLAB_OPTIONS=heap.emptines_f=1/8,cache.bytes=64KiB"});
  EXPECT_EQ(l->text(), "hoardlab: config: environment HOARDLAB_OPTIONS: unknown option "
                       "heap.emptines_f; did you mean heap.emptiness_f?\n");
  EXPECT_EQ(l->options.cache_bytes, 64u * 1024); // the other entries still apply
}

TEST(OptionsVariable, ABadValueNamesTheKeyTheValueAndTheRangeAndKeepsTheFilesValue) {
  const std::string path = write_temp_file("options_variable_bad.toml", "[heap]\n"
                                                                        "emptiness_f = \"1/2\"\n");
  const auto l =
      from_environment({"HOARDLAB_CONFIG=" + path, "HOARDLAB_OPTIONS=heap.emptiness_f=2"});
  EXPECT_EQ(l->text(), "hoardlab: config: environment HOARDLAB_OPTIONS: heap.emptiness_f = \"2\": "
                       "out of range; allowed: a fraction from 0 to 0.99 (\"1/8\" or \"0.125\"); "
                       "keeping 1/2 (from " +
                           path + ":2)\n");
  EXPECT_EQ(l->options.heap_emptiness_f, 0.5);
}

TEST(OptionsVariable, EntriesThatAreNotSectionKeyValueAreEachOneMessage) {
  const auto l = from_environment({"HOARDLAB_OPTIONS=nonsense,superblock_size=1MiB,heap.count=2"});
  EXPECT_EQ(l->count(), 2u) << l->text();
  EXPECT_NE(l->text().find("HOARDLAB_OPTIONS: 'nonsense' is not section.key=value"),
            std::string::npos)
      << l->text();
  EXPECT_NE(l->text().find("HOARDLAB_OPTIONS: superblock_size has no section; write "
                           "section.key=value; did you mean heap.superblock_size?"),
            std::string::npos)
      << l->text();
  EXPECT_EQ(l->options.heap_count, 2);
}

TEST(OptionsVariable, AKeyGivenTwiceKeepsTheFirstAndSaysSo) {
  const auto l = from_environment({"HOARDLAB_OPTIONS=heap.count=2,heap.count=3"});
  EXPECT_EQ(l->options.heap_count, 2);
  EXPECT_EQ(l->text(), "hoardlab: config: environment HOARDLAB_OPTIONS: heap.count is set again "
                       "(the first value counts); keeping 2 (from HOARDLAB_OPTIONS)\n");
}

[[noreturn]] void load_bad_entry_under_strict_config() {
  const char* env[] = {"HOARDLAB_OPTIONS=heap.count=x", "HOARDLAB_STRICT_CONFIG=1", nullptr};
  Options options;
  Provenance provenance[kOptionCount];
  load_and_report(env, options, provenance);
  std::exit(0);
}

TEST(OptionsVariable, ABadEntryEndsTheProcessUnderStrictConfig) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(load_bad_entry_under_strict_config(), ::testing::ExitedWithCode(2),
              "HOARDLAB_OPTIONS: heap.count = \"x\"");
}

} // namespace
} // namespace hoardlab::config
