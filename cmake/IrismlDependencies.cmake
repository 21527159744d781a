# Every third-party dependency, found once and exposed as an imported target.

# --- MPI (C API only; the removed C++ bindings stay out) ---------------------
find_package(MPI REQUIRED COMPONENTS C)
target_compile_definitions(MPI::MPI_C INTERFACE OMPI_SKIP_MPICXX MPICH_SKIP_MPICXX)

# --- parallel HDF5 ------------------------------------------------------------
find_package(PkgConfig QUIET)
set(_irisml_hdf5_found FALSE)
if(PkgConfig_FOUND)
  pkg_check_modules(IRISML_HDF5 QUIET IMPORTED_TARGET hdf5-openmpi)
  if(NOT IRISML_HDF5_FOUND)
    pkg_check_modules(IRISML_HDF5 QUIET IMPORTED_TARGET hdf5-mpi)
  endif()
  if(IRISML_HDF5_FOUND)
    add_library(irisml_hdf5 INTERFACE)
    target_link_libraries(irisml_hdf5 INTERFACE PkgConfig::IRISML_HDF5 MPI::MPI_C)
    set(_irisml_hdf5_found TRUE)
  endif()
endif()
if(NOT _irisml_hdf5_found)
  set(HDF5_PREFER_PARALLEL TRUE)
  find_package(HDF5 COMPONENTS C)
  if(NOT HDF5_FOUND)
    message(FATAL_ERROR "HDF5 not found. Install parallel HDF5 (Debian: libhdf5-openmpi-dev).")
  endif()
  if(NOT HDF5_IS_PARALLEL)
    message(FATAL_ERROR "Only serial HDF5 was found (${HDF5_C_LIBRARIES}); IrisML writes one file "
                        "from many MPI ranks and needs parallel HDF5 (Debian: libhdf5-openmpi-dev).")
  endif()
  add_library(irisml_hdf5 INTERFACE)
  if(TARGET HDF5::HDF5)
    target_link_libraries(irisml_hdf5 INTERFACE HDF5::HDF5 MPI::MPI_C)
  else()
    target_include_directories(irisml_hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS})
    target_link_libraries(irisml_hdf5 INTERFACE ${HDF5_C_LIBRARIES} MPI::MPI_C)
  endif()
endif()
add_library(irisml::hdf5 ALIAS irisml_hdf5)

# --- cfitsio (IRISML_WITH_FITS=OFF: no FITS reading; catalogues and grids as HDF5 or CSV) ---
add_library(irisml_cfitsio INTERFACE)
if(IRISML_WITH_FITS)
  if(PkgConfig_FOUND)
    pkg_check_modules(IRISML_CFITSIO IMPORTED_TARGET cfitsio)
  endif()
  if(NOT IRISML_CFITSIO_FOUND)
    message(FATAL_ERROR "cfitsio not found (Debian: libcfitsio-dev), or configure with -DIRISML_WITH_FITS=OFF")
  endif()
  target_link_libraries(irisml_cfitsio INTERFACE PkgConfig::IRISML_CFITSIO)
else()
  target_compile_definitions(irisml_cfitsio INTERFACE IRISML_NO_FITS=1)
endif()
add_library(irisml::cfitsio ALIAS irisml_cfitsio)

# --- zlib: gzipped CSV/ECSV catalogues (without it those files must be gunzipped) ---
find_package(ZLIB QUIET)
add_library(irisml_zlib INTERFACE)
if(ZLIB_FOUND)
  target_link_libraries(irisml_zlib INTERFACE ZLIB::ZLIB)
  target_compile_definitions(irisml_zlib INTERFACE IRISML_HAVE_ZLIB=1)
else()
  message(STATUS "zlib not found (Debian: zlib1g-dev): gzipped catalogues will be refused")
endif()
add_library(irisml::zlib ALIAS irisml_zlib)

# --- Boost.Program_options (CONFIG mode: CMake >= 3.30 dropped FindBoost) -----
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS program_options)

# --- fmt (irisml::fmt): compiled, unless LibTorch brings its own headers -------
find_package(fmt REQUIRED)

# --- LibTorch -----------------------------------------------------------------
find_package(Torch REQUIRED)
add_library(irisml_torch INTERFACE)
target_link_libraries(irisml_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(irisml_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
add_library(irisml::torch ALIAS irisml_torch)
# PyTorch 2.x installs its own fmt headers (fmt/*.h beside torch/), which shadow the
# system's: code must then use fmt header-only, or it would call the system's compiled fmt
# through the bundled fmt's declarations. Debian's LibTorch 1.13 has none, and there the
# compiled fmt is used: header-only fmt compiles its formatting core into every translation
# unit, ~4 s each on the dev VM (docs/benchmarks.md, "Build times").
# (Debian's LibTorch lists /usr/include, where the system fmt lives: not a bundled one.)
get_target_property(_dirs fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
set(_system_fmt_dirs "")
foreach(_dir ${_dirs})
  get_filename_component(_dir "${_dir}" REALPATH)
  list(APPEND _system_fmt_dirs "${_dir}")
endforeach()
set(_irisml_torch_fmt "")
foreach(_dir ${TORCH_INCLUDE_DIRS})
  get_filename_component(_dir "${_dir}" REALPATH)
  list(FIND _system_fmt_dirs "${_dir}" _system)
  if(_system EQUAL -1 AND EXISTS "${_dir}/fmt/core.h")
    set(_irisml_torch_fmt "${_dir}")
  endif()
endforeach()
add_library(irisml_fmt INTERFACE)
if(_irisml_torch_fmt)
  message(STATUS "fmt: header-only (LibTorch bundles fmt headers in ${_irisml_torch_fmt})")
  target_link_libraries(irisml_fmt INTERFACE fmt::fmt-header-only)
else()
  message(STATUS "fmt: compiled library ${fmt_VERSION}")
  target_link_libraries(irisml_fmt INTERFACE fmt::fmt)
endif()
add_library(irisml::fmt ALIAS irisml_fmt)
if(IRISML_WITH_CUDA)
  if(NOT TARGET torch_cuda AND NOT TORCH_CUDA_LIBRARIES)
    message(FATAL_ERROR "IRISML_WITH_CUDA=ON needs a LibTorch built with CUDA; the one found (${Torch_DIR}) has "
                        "none. Point CMAKE_PREFIX_PATH at a CUDA LibTorch (e.g. python3 -c 'import torch; "
                        "print(torch.utils.cmake_prefix_path)'), or leave IRISML_WITH_CUDA off: the GPU sources are "
                        "still compile-checked when the CUDA toolkit is found (IRISML_CHECK_GPU_COMPILE).")
  endif()
  find_package(CUDAToolkit REQUIRED)
  # Nothing in this project calls into libtorch_cuda directly, so a linker that drops unused
  # libraries (--as-needed, Ubuntu's default) would leave it out and torch::cuda::is_available()
  # would say false on a GPU node.
  target_link_options(irisml_torch INTERFACE "LINKER:--no-as-needed")
endif()

# --- CUDA / NCCL --------------------------------------------------------------
if(IRISML_WITH_NCCL)
  find_package(NCCL REQUIRED)
endif()
set(IRISML_GPU_COMPILE_CHECK OFF)
if(NOT IRISML_WITH_CUDA AND NOT IRISML_CHECK_GPU_COMPILE STREQUAL "OFF")
  if(IRISML_CHECK_GPU_COMPILE STREQUAL "ON")
    find_package(CUDAToolkit REQUIRED)
    find_package(NCCL REQUIRED)
  else()
    find_package(CUDAToolkit QUIET)
    find_package(NCCL QUIET)
  endif()
  if(CUDAToolkit_FOUND AND NCCL_FOUND)
    set(IRISML_GPU_COMPILE_CHECK ON)
    message(STATUS "GPU sources compile-checked against CUDA ${CUDAToolkit_VERSION} and ${NCCL_INCLUDE_DIR}/nccl.h "
                   "(not linked: this LibTorch has no CUDA)")
  else()
    message(STATUS "GPU sources not compile-checked (no CUDA toolkit and nccl.h found)")
  endif()
endif()

# --- GoogleTest ---------------------------------------------------------------
if(IRISML_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
