# Build-time settings (docs/benchmarks.md, "Build times"): none changes what the code computes.
option(IRISML_FAST_LINKER "Link with mold or lld when one is installed" ON)
option(IRISML_CCACHE "Compile through ccache when it is installed" ON)

# Release at -O2, not CMake's -O3, except where -O3 was measured to pay (irisml_hot_code):
# the network's arithmetic is LibTorch's (built separately) and ran the same at -O2, while
# the simulator's spectral loops ran 1.6x slower (docs/benchmarks.md, "Build times").
foreach(_lang C CXX)
  string(REPLACE "-O3" "-O2" CMAKE_${_lang}_FLAGS_RELEASE "${CMAKE_${_lang}_FLAGS_RELEASE}")
endforeach()
function(irisml_hot_code target)
  target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-O3>)
endfunction()

if(IRISML_FAST_LINKER AND NOT CMAKE_LINKER_TYPE)
  include(CheckCXXSourceCompiles)
  foreach(_linker mold lld)
    find_program(IRISML_LD_${_linker} NAMES ${_linker} ld.${_linker})
    if(IRISML_LD_${_linker})
      set(CMAKE_REQUIRED_LINK_OPTIONS -fuse-ld=${_linker})
      check_cxx_source_compiles("int main() { return 0; }" IRISML_LINKS_WITH_${_linker})
      unset(CMAKE_REQUIRED_LINK_OPTIONS)
      if(IRISML_LINKS_WITH_${_linker})
        add_link_options(-fuse-ld=${_linker})
        message(STATUS "Linking with ${_linker} (${IRISML_LD_${_linker}})")
        break()
      endif()
    endif()
  endforeach()
endif()

if(IRISML_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(IRISML_CCACHE_PROGRAM ccache)
  if(IRISML_CCACHE_PROGRAM)
    # precompiled headers are cacheable only with these sloppiness settings
    set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime" ${IRISML_CCACHE_PROGRAM})
    message(STATUS "Compiling through ccache (${IRISML_CCACHE_PROGRAM})")
  endif()
endif()
