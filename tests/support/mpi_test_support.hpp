// MPI helpers the *_mpi_test executables share (MPI is initialised by tests/mpi_main.cpp).
#pragma once

#include <mpi.h>

#include <filesystem>
#include <string>

namespace irisml::test_support {

inline int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

inline int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// <tmp>/irisml_<prefix>_<name>_np<ranks>, emptied by rank 0 (ctest may run the 1/2/3-rank
// variants of a test at the same time); collective.
inline std::string mpi_scratch_dir(const std::string& prefix, const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("irisml_" + prefix + "_" + name + "_np" + std::to_string(world_size())))
                              .string();
  if (world_rank() == 0) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return dir;
}

}  // namespace irisml::test_support
