# Compiler flags shared by every target, and the stricter set that lib/ is built with.

add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)

if(HOARDLAB_SANITIZER STREQUAL "asan-ubsan")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(HOARDLAB_SANITIZER STREQUAL "tsan")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT HOARDLAB_SANITIZER STREQUAL "none")
  message(FATAL_ERROR "HOARDLAB_SANITIZER must be none, asan-ubsan or tsan, not '${HOARDLAB_SANITIZER}'")
endif()

if(HOARDLAB_CHECKED)
  add_compile_definitions(HOARDLAB_CHECKED=1)
endif()
# The hardened build (lib/mem/free_link.h): for every target, or, through HOARDLAB_BUILD_HARDENED,
# for the second set of libraries only (lib/CMakeLists.txt).
if(HOARDLAB_HARDENED)
  add_compile_definitions(HOARDLAB_HARDENED=1)
endif()
if(HOARDLAB_ENCODE_LINKS)
  add_compile_definitions(HOARDLAB_ENCODE_LINKS=1)
endif()

# Flags for the allocator itself (DESIGN, "Being a drop-in malloc" / Compiler):
#  -fno-builtin: gcc would turn calloc's malloc+memset into a call to calloc (infinite recursion);
#  hidden visibility with an explicit export list; no semantic interposition; no PLT;
#  -fno-exceptions: the allocator never throws, and without it every noexcept function that
#  calls another gets an exception table naming libstdc++'s personality routine, which the
#  malloc shim must not need (lib/front/shim/cxx_runtime.h). Unwind tables stay (x86-64's
#  default), so an exception can still pass through these frames.
set(HOARDLAB_LIB_FLAGS
    -fno-builtin
    -fno-exceptions
    -fvisibility=hidden
    -fvisibility-inlines-hidden
    -fno-semantic-interposition
    -fno-plt
    -ftls-model=initial-exec)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  list(APPEND HOARDLAB_LIB_FLAGS -Wglobal-constructors -Wexit-time-destructors)
endif()

# Link-time optimisation for the shared libraries (lib/CMakeLists.txt says why): with GCC in an
# optimised build only. The sanitizer presets use clang, whose LTO needs a linker plugin this
# build does not ask for, and a debug build is for stepping through, not for speed.
set(HOARDLAB_LTO_ACTIVE OFF)
if(HOARDLAB_LTO AND HOARDLAB_SANITIZER STREQUAL "none" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
   AND CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
  include(CheckIPOSupported)
  check_ipo_supported(RESULT hoardlab_ipo_ok OUTPUT hoardlab_ipo_why LANGUAGES CXX)
  if(hoardlab_ipo_ok)
    set(HOARDLAB_LTO_ACTIVE ON)
  else()
    message(WARNING "HOARDLAB_LTO: the compiler cannot link with LTO here, so the shared libraries are linked without it: ${hoardlab_ipo_why}")
  endif()
endif()

function(hoardlab_lib_target target)
  target_compile_options(${target} PRIVATE ${HOARDLAB_LIB_FLAGS})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/lib/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR})
endfunction()
