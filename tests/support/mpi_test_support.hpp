// MPI helpers the *_mpi_test executables share (MPI is initialised by tests/mpi_main.cpp).
#pragma once

#include <mpi.h>

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

}  // namespace irisml::test_support
