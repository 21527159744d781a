// The simulator at 1, 2 and 3 ranks: files are byte-identical to a one-rank
// run, and add-filters equals a fresh simulation with the extra filters.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/paths.hpp"
#include "io/hdf5.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/isochrones.hpp"
#include "simulate/simulator.hpp"
#include "simulate/synthesizer.hpp"
#include "test_support.hpp"
#include "mpi_test_support.hpp"

namespace irisml::simulate {
namespace {

using irisml::test_support::world_rank;
using irisml::test_support::world_size;

using test_support::read_bytes;

struct Fixture {
  std::shared_ptr<const SpectralGrid> grid;
  FilterRegistry registry;
  static const Fixture& get() {
    static const Fixture f{
        std::make_shared<const SpectralGrid>(import_ck04(join_path(IRISML_TEST_DATA_DIR, "spectra/ck04models"))),
        FilterRegistry::load(std::string(IRISML_SOURCE_DIR) + "/configs/filters.ini", IRISML_TEST_DATA_DIR)};
    return f;
  }
};

std::string temp(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("irisml_sim_np" + std::to_string(world_size()) + "_" + name))
      .string();
}

TEST(SimulatorMpiTest, FileIsByteIdenticalToOneRank) {
  const auto& fx = Fixture::get();
  Synthesizer synth(fx.grid, fx.registry, fx.registry.resolve("paper"));
  Prior prior(PriorConfig{}, *fx.grid);
  SimulationSpec spec;
  spec.stars = 2501;  // not divisible by 2 or 3
  spec.seed = 99;
  spec.block_rows = 700;  // several collective rounds, ragged last block
  spec.progress = false;
  const std::string par = temp("par.h5"), ser = temp("ser.h5");
  auto report = simulate(spec, prior, synth, par, MPI_COMM_WORLD);
  EXPECT_EQ(report.stars, 2501u);
  EXPECT_FALSE(std::filesystem::exists(partial_path(par)));
  if (world_rank() == 0) {
    simulate(spec, prior, synth, ser, MPI_COMM_SELF);
    EXPECT_EQ(read_bytes(par), read_bytes(ser));
    auto f = h5::File::open(par);
    auto mags = f.read<float>("magnitudes");
    for (float m : mags) ASSERT_TRUE(std::isfinite(m));
    EXPECT_EQ(f.read_strings("filters").size(), 25u);
    EXPECT_EQ(f.attr_int("/", "seed"), 99);
    std::filesystem::remove(ser);
    std::filesystem::remove(par);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(SimulatorMpiTest, AddFiltersEqualsAFreshSimulation) {
  const auto& fx = Fixture::get();
  Prior prior(PriorConfig{}, *fx.grid);
  SimulationSpec spec;
  spec.stars = 1000;
  spec.seed = 3;
  spec.progress = false;
  const std::string base = temp("base.h5"), fresh = temp("fresh.h5"), added = temp("added.h5");
  simulate(spec, prior, Synthesizer(fx.grid, fx.registry, {"PS1_g", "2MASS_J"}), base, MPI_COMM_WORLD);
  simulate(spec, prior, Synthesizer(fx.grid, fx.registry, {"PS1_g", "2MASS_J", "Gaia_G", "GALEX_NUV"}), fresh,
           MPI_COMM_WORLD);
  add_filters(base, Synthesizer(fx.grid, fx.registry, {"Gaia_G", "GALEX_NUV"}), added, MPI_COMM_WORLD, false);
  if (world_rank() == 0) {
    EXPECT_EQ(read_bytes(added), read_bytes(fresh));
    EXPECT_EQ(read_training_set_info(added).filters,
              (std::vector<std::string>{"PS1_g", "2MASS_J", "Gaia_G", "GALEX_NUV"}));
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // In place: the input is replaced only when complete.
  add_filters(base, Synthesizer(fx.grid, fx.registry, {"Gaia_G", "GALEX_NUV"}), base, MPI_COMM_WORLD, false);
  if (world_rank() == 0) {
    EXPECT_EQ(read_bytes(base), read_bytes(fresh));
    for (const auto& p : {base, fresh, added}) std::filesystem::remove(p);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// Under the isochrone prior each star also gets its mass window (/isochrone_mass, what
// training draws parallax masses from): the prior's own window at the star's θ, the file
// still byte-identical to one rank's, and add-filters carries the windows over.
TEST(SimulatorMpiTest, IsochroneSetsCarryEachStarsMassWindow) {
  const auto& fx = Fixture::get();
  static const StellarTracks tracks =
      StellarTracks::load(std::string(IRISML_SOURCE_DIR) + "/data/isochrones/mist_v1.1_tracks.csv.gz");
  PriorConfig config;
  config.kind = 1.0;
  Prior prior(config, *fx.grid, &tracks);
  SimulationSpec spec;
  spec.stars = 701;
  spec.seed = 5;
  spec.block_rows = 300;
  spec.progress = false;
  const std::string par = temp("iso_par.h5"), ser = temp("iso_ser.h5"), base = temp("iso_base.h5"),
                    added = temp("iso_added.h5");
  simulate(spec, prior, Synthesizer(fx.grid, fx.registry, {"Gaia_G", "2MASS_J", "2MASS_Ks"}), par, MPI_COMM_WORLD);
  simulate(spec, prior, Synthesizer(fx.grid, fx.registry, {"Gaia_G", "2MASS_J"}), base, MPI_COMM_WORLD);
  add_filters(base, Synthesizer(fx.grid, fx.registry, {"2MASS_Ks"}), added, MPI_COMM_WORLD, false);
  if (world_rank() == 0) {
    simulate(spec, prior, Synthesizer(fx.grid, fx.registry, {"Gaia_G", "2MASS_J", "2MASS_Ks"}), ser, MPI_COMM_SELF);
    EXPECT_EQ(read_bytes(par), read_bytes(ser));
    EXPECT_EQ(read_bytes(added), read_bytes(par));
    auto f = h5::File::open(par);
    ASSERT_EQ(f.dims(kMassWindowDataset), (std::vector<std::uint64_t>{701, 3}));
    const auto theta = f.read<double>("parameters");
    const auto windows = f.read<float>(kMassWindowDataset);
    int on_tracks = 0;
    for (std::size_t i = 0; i < 701; ++i) {
      const double* t = &theta[i * 5];
      const auto want = prior.isochrone_mass(StarParameters{t[0], t[1], t[2], t[3], t[4]});
      ASSERT_EQ(windows[i * 3], static_cast<float>(want.iso_weight)) << i;
      ASSERT_EQ(windows[i * 3 + 1], static_cast<float>(want.log_lo)) << i;
      ASSERT_EQ(windows[i * 3 + 2], static_cast<float>(want.log_hi)) << i;
      ASSERT_LE(want.log_lo, want.log_hi) << i;
      on_tracks += want.iso_weight > 0.5;
    }
    EXPECT_GT(on_tracks, 600);  // ε = 0.05 of the density is flat, the rest the tracks'
    for (const auto& p : {par, ser, base, added}) std::filesystem::remove(p);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  // A flat-prior set has none.
  Prior flat(PriorConfig{}, *fx.grid);
  spec.stars = 10;
  simulate(spec, flat, Synthesizer(fx.grid, fx.registry, {"Gaia_G"}), par, MPI_COMM_WORLD);
  if (world_rank() == 0) {
    EXPECT_FALSE(h5::File::open(par).exists(kMassWindowDataset));
    std::filesystem::remove(par);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace irisml::simulate
