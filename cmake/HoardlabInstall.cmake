# `cmake --install`: headers, libraries, the CLI and the workloads it runs, a CMake package
# (find_package(hoardlab) gives hoardlab::hoardlab, hoardlab::hoardlab_static and
# hoardlab::malloc, and the hardened hoardlab::hoardlab_hardened and hoardlab::malloc_hardened)
# and a pkg-config file.
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/include/hoardlab
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(HOARDLAB_INSTALL_TARGETS hoardlab hoardlab_static)
if(TARGET hoardlab-malloc)
  list(APPEND HOARDLAB_INSTALL_TARGETS hoardlab-malloc)
endif()
foreach(hardened hoardlab_hardened hoardlab-malloc-hardened)
  if(TARGET ${hardened})
    list(APPEND HOARDLAB_INSTALL_TARGETS ${hardened})
  endif()
endforeach()
install(TARGETS ${HOARDLAB_INSTALL_TARGETS} EXPORT hoardlabTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET hoardlab_cli)
  install(TARGETS hoardlab_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# The workloads the experiments run, where the installed hoardlab looks for them
# (<bindir>/../<libexecdir>/hoardlab): their names (larson, blowup, ...) are too plain for bin/.
if(DEFINED HOARDLAB_BENCH_WORKLOADS)
  install(TARGETS ${HOARDLAB_BENCH_WORKLOADS}
          RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/hoardlab)
endif()

set(HOARDLAB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hoardlab)
install(EXPORT hoardlabTargets NAMESPACE hoardlab:: DESTINATION ${HOARDLAB_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hoardlabConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hoardlabConfig.cmake INSTALL_DESTINATION ${HOARDLAB_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hoardlabConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hoardlabConfig.cmake
              ${PROJECT_BINARY_DIR}/hoardlabConfigVersion.cmake
        DESTINATION ${HOARDLAB_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/hoardlab.pc.in ${PROJECT_BINARY_DIR}/hoardlab.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hoardlab.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
