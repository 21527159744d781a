// Parallel HDF5 at 1, 2 and 3 ranks: collective hyperslab writes of uneven
// shares (one rank may write nothing) produce the same file as a serial write.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/hdf5.hpp"

namespace irisml {
namespace {

std::vector<char> bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Hdf5MpiTest, CollectiveRowWritesMatchSerialFile) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::uint64_t n = 5, cols = 3;
  std::vector<float> all(n * cols);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<float>(i) * 0.25f;
  // Rank r writes rows [r*2, min(n, r*2+2)): with 3 ranks the last writes one row; with
  // more the trailing ranks write none but still take part.
  std::uint64_t row0 = std::min<std::uint64_t>(n, 2 * rank);
  std::uint64_t rows = std::min<std::uint64_t>(n, row0 + (rank == size - 1 ? n : 2)) - row0;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::string par = dir + "/irisml_mpi_par_" + std::to_string(size) + ".h5";
  std::string ser = dir + "/irisml_mpi_ser_" + std::to_string(size) + ".h5";
  bool collective = false;
  {
    auto f = h5::File::create(par, MPI_COMM_WORLD);
    f.create_dataset<float>("m", {n, cols});
    f.write_rows<float>("m", row0, rows, all.data() + row0 * cols);
    f.write_strings("names", {"a", "bb", "ccc"});
    f.set_attr("/", "seed", std::int64_t{7});
    collective = f.all_transfers_collective();
  }
  EXPECT_TRUE(collective) << "a parallel transfer fell back to independent I/O";
  if (rank == 0) {
    {
      auto f = h5::File::create(ser, MPI_COMM_SELF);
      f.create_dataset<float>("m", {n, cols});
      f.write_rows<float>("m", 0, n, all.data());
      f.write_strings("names", {"a", "bb", "ccc"});
      f.set_attr("/", "seed", std::int64_t{7});
    }
    auto f = h5::File::open(par);
    EXPECT_EQ(f.read<float>("m"), all);
    EXPECT_EQ(bytes(par), bytes(ser)) << "file bytes depend on the number of writers";
    std::filesystem::remove(ser);
    std::filesystem::remove(par);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace irisml
