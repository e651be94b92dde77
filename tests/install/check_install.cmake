# Run with cmake -P. Fails (message FATAL_ERROR) at the first step that does not work.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run_step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(f include/hoardlab/hoardlab.h include/hoardlab/hoardlab.hpp lib/libhoardlab.so
          lib/libhoardlab.a lib/pkgconfig/hoardlab.pc lib/cmake/hoardlab/hoardlabConfig.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "installed tree lacks ${f}")
  endif()
endforeach()

# 1. find_package
run_step("configure consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/consumer
         -G Ninja -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX})
run_step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
run_step("run consumer (find_package)" ${WORK_DIR}/consumer/consumer)
if(NOT step_output MATCHES "hoardlab consumer ok")
  message(FATAL_ERROR "consumer printed: ${step_output}")
endif()

# 2. pkg-config
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
execute_process(COMMAND pkg-config --cflags --libs hoardlab OUTPUT_VARIABLE flags
                RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config does not know hoardlab")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run_step("compile with pkg-config flags" ${CXX} -std=c++20 ${SOURCE_DIR}/consumer.cpp ${flags}
         -Wl,-rpath,${prefix}/lib -o ${WORK_DIR}/consumer-pc)
run_step("run consumer (pkg-config)" ${WORK_DIR}/consumer-pc)
if(NOT step_output MATCHES "hoardlab consumer ok")
  message(FATAL_ERROR "pkg-config consumer printed: ${step_output}")
endif()
