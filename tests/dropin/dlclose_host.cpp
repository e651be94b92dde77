// dlopens libhoardlab.so, allocates through hl_* on a thread (its thread cache registers the
// pthread key's destructor, code of the library), dlcloses the library, then lets that thread
// exit and, with purge.background on, gives the purge thread time to wake: both run the
// library's code after the dlclose. The library is linked -z nodelete, so dlclose leaves it
// mapped and both are safe; without that the thread's exit jumps into unmapped memory.
// Usage: dropin_dlclose_host LIBRARY. Prints "ok ..." and exits 0, or names the failing step; a
// crash is a signal the caller sees as the exit status.
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <dlfcn.h>
#include <thread>
#include <unistd.h>

namespace {

int fail(const char* step) {
  std::printf("FAILED: %s\n", step);
  return 1;
}

int threads_in_process() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("usage: dropin_dlclose_host LIBRARY");
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::printf("FAILED: dlopen: %s\n", dlerror());
    return 1;
  }
  auto hl_malloc = reinterpret_cast<void* (*)(std::size_t)>(dlsym(lib, "hl_malloc"));
  auto hl_free = reinterpret_cast<void (*)(void*)>(dlsym(lib, "hl_free"));
  if (hl_malloc == nullptr || hl_free == nullptr) return fail("hl_malloc and hl_free");

  const int threads_before = threads_in_process();
  std::barrier used(2);
  std::barrier unloaded(2);
  bool allocated = true;
  std::thread user([&] {
    // Several classes and a large block: slow paths, where a wanted purge thread starts.
    for (std::size_t n : {16, 100, 1000, 5000, 300000}) {
      void* p = hl_malloc(n);
      if (p == nullptr) allocated = false;
      hl_free(p);
    }
    used.arrive_and_wait();
    unloaded.arrive_and_wait();
    // Returning runs the library's pthread key destructor (the thread cache's flush).
  });
  used.arrive_and_wait();
  if (!allocated) return fail("hl_malloc on the thread");
  // The purge thread, when purge.background asked for it, is one thread more than the user.
  const int extra_threads = threads_in_process() - threads_before - 1;

  if (dlclose(lib) != 0) return fail("dlclose");
  void* still = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
  std::printf("library still mapped after dlclose: %s\n", still != nullptr ? "yes" : "no");
  if (still != nullptr) dlclose(still);
  std::fflush(stdout);

  unloaded.arrive_and_wait();
  user.join();
  // The purge thread wakes at least once a second even with nothing to do.
  if (extra_threads > 0) usleep(1500 * 1000);
  std::thread([] {}).join(); // one more thread start and exit after the unload
  std::printf("ok: the thread exited after dlclose; purge thread running: %s\n",
              extra_threads > 0 ? "yes" : "no");
  return 0;
}
