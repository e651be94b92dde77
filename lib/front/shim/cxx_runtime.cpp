// Finding libstdc++'s entry points at run time (cxx_runtime.h says why). Layer: front (shim).
#include "front/shim/cxx_runtime.h"

#include "core/atomic.h"
#include "pal/env.h"

#include <cstdlib>
#include <dlfcn.h>

namespace hoardlab::front {
namespace {

enum Entry : unsigned {
  kGetNewHandler,
  kThrowBadAlloc,
  kNothrowNew,
  kNothrowNewArray,
  kNothrowNewAligned,
  kNothrowNewArrayAligned,
  kEntryCount
};

// Their mangled names, exported by libstdc++.so.6 (GLIBCXX_3.4, GLIBCXX_3.4.20, CXXABI_1.3.11).
constexpr const char* kNames[kEntryCount] = {
    "_ZSt15get_new_handlerv",
    "_ZSt17__throw_bad_allocv",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
};

// Each entry's address once found. Relaxed: a lookup is idempotent (every thread finds the same
// address, and the code there does not change), so a race costs a second lookup, nothing more.
// An entry not found stays null and is looked up again next time: the runtime may be loaded
// later (a C program that dlopens a C++ library).
constinit core::Atomic<void*> g_entries[kEntryCount];

void* entry(Entry e) noexcept {
  if (void* p = g_entries[e].load_relaxed()) [[likely]]
    return p;
  // dlsym on this handle searches libstdc++ itself first, then its dependencies: the nothrow
  // forms found are the runtime's own, not ours (the preloaded shim comes first in the global
  // scope, where RTLD_DEFAULT would find them) nor another allocator's (RTLD_NEXT could). The
  // handle is found in a local scope too, and is kept open: it pins the runtime, so the cached
  // address stays valid if the library that loaded the runtime is dlclosed.
  void* handle = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return nullptr;
  void* p = dlsym(handle, kNames[e]);
  if (p != nullptr) g_entries[e].store_relaxed(p);
  return p;
}

[[noreturn]] void no_runtime_to_throw() noexcept {
  constexpr char kMessage[] =
      "operator new: out of memory, and no C++ runtime loaded to throw std::bad_alloc\n";
  pal::write_stderr(kMessage, sizeof(kMessage) - 1);
  std::abort();
}

} // namespace

std::new_handler cxx_new_handler() noexcept {
  using GetNewHandler = std::new_handler (*)() noexcept;
  void* p = entry(kGetNewHandler);
  return p != nullptr ? reinterpret_cast<GetNewHandler>(p)() : nullptr;
}

void cxx_throw_bad_alloc() {
  using ThrowBadAlloc = void (*)();
  void* p = entry(kThrowBadAlloc);
  if (p == nullptr) no_runtime_to_throw();
  reinterpret_cast<ThrowBadAlloc>(p)();
  std::abort(); // std::__throw_bad_alloc does not return
}

void* cxx_nothrow_new(std::size_t size, std::size_t alignment, bool array,
                      const std::nothrow_t& tag) noexcept {
  // noexcept types, as the runtime declares them: a call through a pointer that could throw
  // would make this noexcept function reference the C++ personality routine.
  using NothrowNew = void* (*)(std::size_t, const std::nothrow_t&) noexcept;
  using NothrowNewAligned =
      void* (*)(std::size_t, std::align_val_t, const std::nothrow_t&) noexcept;
  if (alignment == 0) {
    void* p = entry(array ? kNothrowNewArray : kNothrowNew);
    return p != nullptr ? reinterpret_cast<NothrowNew>(p)(size, tag) : nullptr;
  }
  void* p = entry(array ? kNothrowNewArrayAligned : kNothrowNewAligned);
  return p != nullptr
             ? reinterpret_cast<NothrowNewAligned>(p)(size, std::align_val_t{alignment}, tag)
             : nullptr;
}

} // namespace hoardlab::front
