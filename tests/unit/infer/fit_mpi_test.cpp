// `irisml fit`'s job under MPI (run at 1, 2 and 3 ranks): the reference posteriors of a
// catalogue are byte-identical to one process fitting it alone, every transfer is
// collective, and an interrupted run resumes to the same bytes.
#include <gtest/gtest.h>
#include <mpi.h>

#include <filesystem>

#include "core/paths.hpp"
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
  sim::Synthesizer synth{test_support::ck04_grid(), test_support::project_registry(), testing::model_filters()};
  sim::Prior prior{sim::PriorConfig{}, *test_support::ck04_grid()};
  sim::PhotometricPosterior post{synth, prior};
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

}  // namespace
}  // namespace irisml::infer
