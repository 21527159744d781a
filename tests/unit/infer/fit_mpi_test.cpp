// `irisml fit`'s job under MPI (run at 1, 2 and 3 ranks): the reference posteriors of a
// catalogue are byte-identical to one process fitting it alone, every transfer is
// collective, and an interrupted run resumes to the same bytes.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/paths.hpp"
#include "core/rng.hpp"
#include "infer/fit.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"
#include "mpi_test_support.hpp"
#include "reference_data.hpp"
#include "sampler_testing.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::infer {
namespace {

using irisml::test_support::world_rank;

std::string fit_scratch(const std::string& name) { return test_support::mpi_scratch_dir("fit_mpi", name); }

struct Fitter {
  simulate::Synthesizer synth{test_support::ck04_grid(), test_support::project_registry(), testing::model_filters()};
  simulate::Prior prior{simulate::PriorConfig{}, *test_support::ck04_grid()};
  simulate::PhotometricPosterior post{synth, prior};
  ReferenceFitter fitter{post, [] {
                           ReferenceSettings r;
                           r.proposals = 256;
                           r.max_rounds = 2;
                           return r;
                         }()};
};

SamplerSettings settings() {
  SamplerSettings s;
  s.samples = 8;
  s.keep_samples = true;
  s.seed = 4;
  s.block_rows = 3;  // 14 rows → 5 blocks, the last one short
  s.bands_min = 3;
  s.progress = false;
  return s;
}

SampleJob fit_job_for(const std::string& output) { return testing::job_for(output, "ck04"); }

SampleReport fit(Fitter& f, const CatalogReader& catalog, const std::string& output, MPI_Comm comm,
                 int max_blocks = 0) {
  auto s = settings();
  s.max_blocks = max_blocks;
  FitProcessor processor(f.fitter, s);
  return process_catalog(processor, catalog, fit_job_for(output), s, /*with_ppc=*/false, comm, "fit");
}

TEST(FitMpiTest, ByteIdenticalForAnyRankCountAndResumable) {
  const std::string dir = fit_scratch("ranks");
  if (world_rank() == 0) testing::write_hdf5_catalog(dir + "/cat.h5", testing::make_catalog(14, 9));
  MPI_Barrier(MPI_COMM_WORLD);
  auto catalog = CatalogReader::open(dir + "/cat.h5", testing::known_filters());
  Fitter f;
  if (world_rank() == 0) {
    auto ref = fit(f, catalog, dir + "/ref.h5", MPI_COMM_SELF);
    EXPECT_TRUE(ref.complete);
    EXPECT_EQ(ref.blocks, 5u);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto report = fit(f, catalog, dir + "/out.h5", MPI_COMM_WORLD);
  EXPECT_TRUE(report.complete);
  EXPECT_TRUE(report.all_transfers_collective);
  EXPECT_EQ(report.sampled + report.too_few_bands, 14u);
  EXPECT_GT(report.sampled, 8u);
  // stopped after one block per rank, then resumed
  auto first = fit(f, catalog, dir + "/resumed.h5", MPI_COMM_WORLD, /*max_blocks=*/1);
  EXPECT_TRUE(first.interrupted);
  auto second = fit(f, catalog, dir + "/resumed.h5", MPI_COMM_WORLD);
  EXPECT_TRUE(second.complete);
  EXPECT_GT(second.blocks_skipped, 0u);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    const auto ref = testing::read_bytes(dir + "/ref.h5");
    ASSERT_GT(ref.size(), 1000u);
    EXPECT_TRUE(ref == testing::read_bytes(dir + "/out.h5")) << "output differs from the one-process file";
    EXPECT_TRUE(ref == testing::read_bytes(dir + "/resumed.h5")) << "resumed output differs";
    auto file = h5::File::open(dir + "/out.h5");
    EXPECT_EQ(file.dims("/reference/ess"), (std::vector<std::uint64_t>{14}));
    EXPECT_EQ(file.dims("/samples"), (std::vector<std::uint64_t>{14, 8, 5}));
    const auto ess = file.read<float>("/reference/ess");
    int fitted = 0;
    for (float e : ess) fitted += e > 0;
    EXPECT_GT(fitted, 8);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// Star constraints (parallax, A_V prior) under MPI: the same bytes for any rank count,
// and /physical summaries exactly for the stars with a parallax.
TEST(FitMpiTest, StarConstraintsGiveDistancesAndTheSameBytesForAnyRankCount) {
  const std::string dir = fit_scratch("constraints");
  Fitter f;
  const std::size_t rows = 14;
  if (world_rank() == 0) {
    // Stars of the model itself: θ from the prior, 1 M_sun, at distance 1000/ϖ with
    // ϖ = 0.5 + 0.1 r mas, 0.02 mag noise; even rows carry the parallax (± 0.05 mas),
    // every third row an A_V prior around the truth.
    std::ofstream out(dir + "/cat.csv");
    const auto& filters = testing::model_filters();
    out << "id,parallax,parallax_err,av_prior,av_prior_err";
    for (const auto& name : filters) out << "," << name << "," << name << "_err";
    out << "\n";
    out.precision(9);
    std::vector<double> mags(filters.size()), work;
    for (std::size_t r = 0; r < rows; ++r) {
      simulate::StarParameters truth;
      f.prior.draw(41, r, truth);
      const double plx = 0.5 + 0.1 * static_cast<double>(r);
      const double x = 5.0 * std::log10(100.0 / plx), u = simulate::radius_term(1.0, truth.logg);
      ASSERT_TRUE(f.synth.magnitudes(truth, mags.data(), work, x - u));
      Philox rng(42, r);
      out << "star-" << r << ",";
      if (r % 2 == 0)
        out << plx << ",0.05";
      else
        out << ",";
      out << ",";
      if (r % 3 == 0)
        out << truth.av << ",0.1";
      else
        out << ",";
      for (double m : mags) out << "," << m + 0.02 * rng.normal() << ",0.02";
      out << "\n";
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto catalog = CatalogReader::open(dir + "/cat.csv", testing::known_filters());
  ASSERT_TRUE(catalog.has_constraint(kParallax));
  auto s = settings();
  s.physical = true;
  auto run = [&](const std::string& output, MPI_Comm comm) {
    FitProcessor processor(f.fitter, s);
    return process_catalog(processor, catalog, fit_job_for(output), s, /*with_ppc=*/false, comm, "fit");
  };
  if (world_rank() == 0) {
    EXPECT_TRUE(run(dir + "/ref.h5", MPI_COMM_SELF).complete);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_TRUE(run(dir + "/out.h5", MPI_COMM_WORLD).complete);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    EXPECT_TRUE(testing::read_bytes(dir + "/ref.h5") == testing::read_bytes(dir + "/out.h5"))
        << "output differs from the one-process file";
    auto file = h5::File::open(dir + "/out.h5");
    ASSERT_EQ(file.dims("/physical/distance"), (std::vector<std::uint64_t>{rows, 3}));
    const auto distance = file.read<float>("/physical/distance");
    const auto mass = file.read<float>("/physical/mass");
    const auto ess = file.read<float>("/reference/ess");
    int with_distance = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const float* d = distance.data() + r * 3;
      if (r % 2 == 1 || !(ess[r] > 0)) {
        EXPECT_TRUE(std::isnan(d[1])) << "row " << r;  // no parallax (or not fitted): no distance
        continue;
      }
      ++with_distance;
      // the truth within 4σ of the parallax (S/N ≥ 10)
      const double plx = 0.5 + 0.1 * static_cast<double>(r);
      EXPECT_LE(d[0], d[1]);
      EXPECT_LE(d[1], d[2]);
      EXPECT_NEAR(1000.0 / d[1], plx, 4 * 0.05) << "row " << r;
      EXPECT_GE(mass[r * 3], 0.3 * 0.999);  // inside the mass prior
      EXPECT_LE(mass[r * 3 + 2], 3.0 * 1.001);
    }
    EXPECT_GE(with_distance, 4);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace irisml::infer
