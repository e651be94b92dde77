// Process-level behaviour of the malloc under test: fork while allocating, thread churn,
// allocation under an address-space limit, and a late-loaded (dlopened) shim meeting glibc's
// blocks. Each helper program runs preloaded and is time-boxed.
#include "process.h"

#include <gtest/gtest.h>

#include <csignal>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace hoardlab::dropin {
namespace {

ProcessResult run_preloaded(const std::vector<std::string>& argv, const std::string& tag,
                            double timeout_s = 50.0) {
  const ScratchDir scratch(tag);
  const std::string& dir = scratch.path;
  return run_process(argv, preloaded(pinned_environment(dir), dir + "/probe.txt"), "", timeout_s);
}

TEST(Fork, FourThreadsAllocateWhileAnotherForksWithAMallocingAtforkHandler) {
  const ProcessResult r =
      run_preloaded({build_program("dropin_fork_stress"), "4", "20261124"}, "fork", 55);
  ASSERT_FALSE(r.timed_out) << "deadlock? stderr:\n" << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("failures=0"), std::string::npos) << r.out;
  std::cout << "[ fork     ] " << r.out;
}

TEST(ThreadChurn, ThousandsOfShortLivedThreadsHandBlocksToEachOther) {
  const ProcessResult r =
      run_preloaded({build_program("dropin_thread_churn"), "4000", "8", "31337"}, "churn", 55);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("threads=4000"), std::string::npos) << r.out;
  std::cout << "[ churn    ] " << r.out;
}

TEST(AddressLimit, AllocationUnderPrlimitFailsCleanlyWithEnomem) {
  if (access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "prlimit is not installed";
  // 512 MiB: room for the program, its libraries and the first steps of the small-object
  // reservation, yet small enough that the helper exhausts it within seconds (small blocks now
  // fill the whole limit, not half of it: at 1 GiB the two fills took 15 s of CPU).
  const ProcessResult r = run_preloaded(
      {"/usr/bin/prlimit", "--as=536870912", "--", build_program("dropin_address_limit"), "512"},
      "prlimit", 55);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << "crashed or failed under RLIMIT_AS:\n" << r.out << r.err;
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
  std::cout << "[ prlimit  ] " << r.out;
}

// A tight limit, below the allocator's old smallest small-object reservation (256 MiB): mem
// reserves small-object address space in steps as it is used (mem/small_range.h), so small
// blocks are served until the limit, as glibc, jemalloc and TBB serve them too.
TEST(AddressLimit, SmallAllocationsWorkUnderA192MiBLimit) {
  if (access("/usr/bin/prlimit", X_OK) != 0) GTEST_SKIP() << "prlimit is not installed";
  const ProcessResult r = run_preloaded(
      {"/usr/bin/prlimit", "--as=201326592", "--", build_program("dropin_address_limit"), "192"},
      "prlimit-small", 55);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
}

// Less room than one superblock (S = 4 MiB, the limit 3 MiB above what is mapped): small requests
// of classes that have no superblock yet are served as page runs, said once, instead of failing
// with ENOMEM as glibc would not (mem/allocator.cpp, allocate_small_as_run).
TEST(AddressLimit, SmallRequestsAreServedAsPageRunsWhenNoSuperblockFits) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "the superblock size option is hoardlab's";
  const ScratchDir scratch("tight-limit");
  auto env = preloaded(pinned_environment(scratch.path), scratch.path + "/probe.txt");
  env["HOARDLAB_HEAP_SUPERBLOCK_SIZE"] = "4MiB";
  const ProcessResult r = run_process({build_program("dropin_tight_limit")}, env, "", 30);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("ok ", 0), 0u) << r.out;
  EXPECT_NE(r.err.find("served as page runs"), std::string::npos) << r.err;
}

TEST(Dlopen, GlibcBlocksFreedThroughALateLoadedShimGoBackToGlibc) {
  if (!library_is_hoardlab())
    GTEST_SKIP() << "the plugin is linked against libhoardlab-malloc.so; forwarding foreign "
                    "pointers to glibc is hoardlab's own behaviour";
  // Not preloaded: the host starts on glibc's malloc.
  const ScratchDir scratch("dlopen");
  const std::string& dir = scratch.path;
  auto env = pinned_environment(dir);
  env["HOARDLAB_VERBOSE"] = "1";
  const ProcessResult r =
      run_process({build_program("dropin_dlopen_host"), HOARDLAB_DROPIN_PLUGIN}, env, "", 30);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("plugin malloc from " + real_path(library_under_test())), std::string::npos)
      << "the plugin's malloc is not the shim's, so the test proves nothing:\n"
      << r.out;
  EXPECT_NE(r.out.find("ok "), std::string::npos) << r.out << r.err;
  // Two unknown pointers were freed; the report comes once.
  std::size_t reports = 0;
  for (std::size_t at = r.err.find("left alone"); at != std::string::npos;
       at = r.err.find("left alone", at + 1))
    ++reports;
  EXPECT_EQ(reports, 1u) << r.err;
}

// The shim links no C++ runtime (lib/front/shim/cxx_runtime.h): a C program preloaded with it
// maps only what the program itself needs.
TEST(CProgram, PreloadedWithTheShimMapsNoCxxRuntime) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "what the library under test links is its own";
  const ProcessResult r = run_preloaded({build_program("dropin_c_program")}, "c-program", 30);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("object " + library_under_test()), std::string::npos)
      << "the library under test is not loaded, so the test proves nothing:\n"
      << r.out;
  EXPECT_NE(r.out.find("ok\n"), std::string::npos) << r.out << r.err;
}

// Nobody can catch a bad_alloc without a C++ runtime: operator new called from C says why on
// stderr and aborts, rather than returning null to a caller that does not test for it.
TEST(CProgram, OperatorNewFailingWithNoCxxRuntimeLoadedSaysSoAndAborts) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "the message is hoardlab's";
  const ProcessResult r = run_preloaded({build_program("dropin_c_program"), "new-without-runtime"},
                                        "c-program-new", 30);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 128 + SIGABRT) << r.out << r.err;
  EXPECT_NE(r.err.find("operator new: out of memory, and no C++ runtime loaded to throw "
                       "std::bad_alloc\n"),
            std::string::npos)
      << r.err;
}

// A C host (as Python is) dlopens a C++ library RTLD_LOCAL: that library's operator new is the
// shim's, and its C++ runtime is in no scope the shim sees through RTLD_DEFAULT, yet its
// `catch (const std::bad_alloc&)` catches operator new's failure and nothrow new returns null.
TEST(CProgram, ACxxLibraryItLoadsLocallyCatchesBadAllocFromTheShimsOperatorNew) {
  const ProcessResult r =
      run_preloaded({build_program("dropin_c_program"), "dlopen", HOARDLAB_DROPIN_CXX_LOCAL_PLUGIN},
                    "c-program-dlopen", 30);
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok\n"), std::string::npos) << r.out << r.err;
  if (library_is_hoardlab()) {
    EXPECT_NE(r.out.find("runtime in the global scope: no"), std::string::npos)
        << "the shim brought the C++ runtime into the global scope, so the local case is not "
           "tested:\n"
        << r.out;
  }
}

TEST(OneInstance, AProgramLinkedWithLibhoardlabAndPreloadedWithTheShimHasOneAllocator) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "about hoardlab's two libraries";
  const ScratchDir scratch("both");
  const std::string& dir = scratch.path;
  auto env = pinned_environment(dir);
  env["LD_PRELOAD"] = library_under_test();
  env["HOARDLAB_STATS"] = "1";
  const ProcessResult r = run_process({build_program("dropin_both_loaded")}, env, "", 30);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("hl_malloc from " + real_path(library_under_test())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ok"), std::string::npos) << r.out;
  // One allocator, one statistics report at exit.
  std::size_t reports = 0;
  for (std::size_t at = r.err.find("hoardlab statistics"); at != std::string::npos;
       at = r.err.find("hoardlab statistics", at + 1))
    ++reports;
  EXPECT_EQ(reports, 1u) << r.err;
}

// HOARDLAB_* is ignored in a setuid process, so a stats file cannot be written with the
// owner's rights. The test makes a setuid-root copy of a program linked against the shim and
// runs it as nobody; a control run without setuid shows the same variables do take effect.
TEST(Security, HoardlabVariablesAreIgnoredUnderAtSecure) {
  if (!library_is_hoardlab()) GTEST_SKIP() << "about hoardlab's environment handling";
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a setuid-root program";
  if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv is not installed";
  const ScratchDir scratch("secure");
  const std::string& dir = scratch.path;
  chmod(dir.c_str(), 0777);
  const std::string program = dir + "/secure_helper";
  write_file(program, read_file(build_program("dropin_secure_helper")));
  auto env = pinned_environment(dir);
  env["HOARDLAB_STATS"] = "1";

  chmod(program.c_str(), 0755);
  env["HOARDLAB_STATS_FILE"] = dir + "/control.json";
  const ProcessResult control = run_process({program}, env, "", 20);
  ASSERT_EQ(control.exit_code, 0) << control.err;
  ASSERT_NE(control.out.find("AT_SECURE=0"), std::string::npos) << control.out;
  ASSERT_NE(control.err.find("hoardlab statistics"), std::string::npos)
      << "the control run did not print statistics: the test would prove nothing\n"
      << control.err;
  ASSERT_TRUE(access((dir + "/control.json").c_str(), F_OK) == 0);

  ASSERT_EQ(chmod(program.c_str(), 04755), 0);
  env["HOARDLAB_STATS_FILE"] = dir + "/secure.json";
  const ProcessResult r =
      run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", program},
                  env, "", 20);
  if (r.exit_code != 0 && r.err.find("error while loading shared libraries") != std::string::npos)
    GTEST_SKIP() << "user nobody cannot reach the build tree's libraries: " << r.err;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  if (r.out.find("AT_SECURE=1") == std::string::npos)
    GTEST_SKIP() << "the setuid bit did not take effect here (nosuid mount?): " << r.out;
  EXPECT_EQ(r.err.find("hoardlab statistics"), std::string::npos) << r.err;
  EXPECT_NE(access((dir + "/secure.json").c_str(), F_OK), 0)
      << "a setuid process wrote HOARDLAB_STATS_FILE";
}

} // namespace
} // namespace hoardlab::dropin
