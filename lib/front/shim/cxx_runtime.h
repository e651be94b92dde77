// The program's C++ runtime, as operator new's failure paths need it. Layer: front (shim).
//
// The shim is not linked against libstdc++: a C program preloaded with it would otherwise map
// libstdc++, libm and libgcc_s (1.2 MiB of RSS and ~1.6 ms per process) for an operator new it
// never calls. Whoever calls operator new has a C++ runtime loaded, so what the failure path
// needs (the new-handler, throwing std::bad_alloc, a catch for the nothrow forms) is taken from
// that runtime when an allocation first fails: libstdc++.so.6, looked up by name whether it is
// in the global scope (a C++ program) or only in a library's local one (a C host that dlopened
// a C++ library RTLD_LOCAL, as Python does). Nothing here runs while an allocation succeeds.
#pragma once

#include <cstddef>
#include <new>

namespace hoardlab::front {

// The runtime's std::get_new_handler(); nullptr when no runtime is loaded (nobody could have
// set a handler then).
std::new_handler cxx_new_handler() noexcept;

// Throws the runtime's std::bad_alloc (std::__throw_bad_alloc), so that the program's
// `catch (const std::bad_alloc&)` matches it. Without a runtime nobody can catch: says so on
// stderr and aborts.
[[noreturn]] void cxx_throw_bad_alloc();

// The runtime's own nothrow operator new of this form (alignment 0: the unaligned one). In
// libstdc++ that calls the throwing form, which resolves to ours, inside a try/catch: the
// new-handler loop runs in our new_slow, and a bad_alloc (ours or a handler's) becomes nullptr
// there. nullptr when no runtime is loaded: no handler can have been set either.
void* cxx_nothrow_new(std::size_t size, std::size_t alignment, bool array,
                      const std::nothrow_t& tag) noexcept;

} // namespace hoardlab::front
