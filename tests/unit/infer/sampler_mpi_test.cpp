// `sample_catalog` under MPI (run at 1, 2 and 3 ranks): the output file is
// byte-identical to a one-rank run, every transfer is collective, and an
// interrupted run resumes to the same bytes.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <mpi.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/shard.hpp"
#include "infer/posterior_sampler.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"
#include "sampler_testing.hpp"
#include "mpi_test_support.hpp"

namespace irisml::infer {
namespace {

using irisml::test_support::world_rank;
using irisml::test_support::world_size;

// A scratch directory per test and rank count (ctest may run the 1/2/3-rank
// variants at the same time).
std::string scratch(const std::string& name) { return test_support::mpi_scratch_dir("sampler_mpi", name); }

SamplerSettings small_settings() {
  SamplerSettings s;
  s.samples = 12;
  s.keep_samples = true;
  s.batch = 5;
  s.seed = 11;
  s.block_rows = 7;  // 61 rows → 9 blocks, the last one short
  s.bands_min = 3;
  s.sigma_max = 0.08;  // some stars get the outside-training flag
  s.progress = false;
  return s;
}

SampleJob job_for(const std::string& output) { return testing::job_for(output, "tiny-random-model"); }

// A catalogue written by rank 0 (HDF5 or CSV by extension) and opened on every rank.
CatalogReader shared_catalog(const std::string& path, std::size_t rows, std::uint64_t seed) {
  if (world_rank() == 0) {
    const auto catalog = testing::make_catalog(rows, seed);
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
      testing::write_csv_catalog(path, catalog);
    } else {
      testing::write_hdf5_catalog(path, catalog);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return CatalogReader::open(path, testing::known_filters());
}

// Rank 0 samples the catalogue alone into <dir>/ref.h5 and expects `out` to hold the
// same bytes.
void expect_same_bytes_as_one_process(const CatalogReader& catalog, const SamplerSettings& settings,
                                      const std::string& dir, const std::string& out) {
  if (world_rank() == 0) {
    auto ref =
        sample_catalog(testing::tiny_model(), catalog, job_for(dir + "/ref.h5"), settings, nullptr, MPI_COMM_SELF);
    EXPECT_TRUE(ref.complete);
    EXPECT_TRUE(testing::read_bytes(dir + "/ref.h5") == testing::read_bytes(out))
        << "output differs from one process sampling the whole catalogue";
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(SampleCatalogMpiTest, ByteIdenticalForAnyRankCountAndCollective) {
  const std::string dir = scratch("ranks");
  auto catalog = shared_catalog(dir + "/cat.h5", 61, 5);
  const auto settings = small_settings();
  // Reference: one process alone.
  if (world_rank() == 0) {
    auto report =
        sample_catalog(testing::tiny_model(), catalog, job_for(dir + "/ref.h5"), settings, nullptr, MPI_COMM_SELF);
    EXPECT_TRUE(report.complete);
    EXPECT_EQ(report.blocks, 9u);
    EXPECT_EQ(report.blocks_run, 9u);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  auto report =
      sample_catalog(testing::tiny_model(), catalog, job_for(dir + "/out.h5"), settings, nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(report.complete);
  EXPECT_FALSE(report.interrupted);
  EXPECT_TRUE(report.all_transfers_collective);
  EXPECT_EQ(report.rows, 61u);
  EXPECT_EQ(report.sampled + report.too_few_bands, 61u);
  EXPECT_GE(report.too_few_bands, 10u);  // rows with 0 or 2 bands (every 11th + every 11th)
  EXPECT_GT(report.outside_training, 0u);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    EXPECT_FALSE(file_exists(partial_path(dir + "/out.h5")));
    EXPECT_FALSE(file_exists(progress_path(dir + "/out.h5")));
    const auto ref = testing::read_bytes(dir + "/ref.h5");
    ASSERT_GT(ref.size(), 1000u);
    EXPECT_TRUE(ref == testing::read_bytes(dir + "/out.h5")) << "output differs from the one-rank file";
    // Content checks: schema, catalogue order, flags of a no-band row.
    auto f = h5::File::open(dir + "/out.h5");
    EXPECT_EQ(f.attr_string("/", "format"), "irisml-posterior");
    EXPECT_EQ(f.attr_int("/", "format_version"), 1);
    EXPECT_EQ(f.attr_int("/", "samples_per_star"), 12);
    EXPECT_EQ(f.attr_int("/", "seed"), 11);
    EXPECT_EQ(f.dims("/samples"), (std::vector<std::uint64_t>{61, 12, 5}));
    EXPECT_EQ(f.dims("/hdi95"), (std::vector<std::uint64_t>{61, 5, 2}));
    auto ids = f.read_strings("/id");
    ASSERT_EQ(ids.size(), 61u);
    EXPECT_EQ(ids[0], "star-1000");
    EXPECT_EQ(ids[60], "star-1420");
    auto flags = f.read<std::uint32_t>("/flags");
    auto n_bands = f.read<std::int32_t>("/n_bands");
    auto median = f.read<float>("/median");
    EXPECT_EQ(n_bands[3], 0);  // row 3: no bands, still a row
    EXPECT_EQ(flags[3] & kFlagTooFewBands, kFlagTooFewBands);
    EXPECT_TRUE(std::isnan(median[3 * 5]));
    EXPECT_EQ(n_bands[7], 2);
    EXPECT_EQ(flags[7] & kFlagTooFewBands, kFlagTooFewBands);
    EXPECT_GE(n_bands[0], 3);
    EXPECT_TRUE(std::isfinite(median[0]));
    EXPECT_EQ(f.read_strings("/parameter_names").size(), 5u);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(SampleCatalogMpiTest, InterruptedRunResumesToTheSameBytes) {
  const std::string dir = scratch("resume");
  auto catalog = shared_catalog(dir + "/cat.csv", 61, 8);
  auto settings = small_settings();
  settings.keep_samples = false;
  if (world_rank() == 0) {
    auto ref =
        sample_catalog(testing::tiny_model(), catalog, job_for(dir + "/ref.h5"), settings, nullptr, MPI_COMM_SELF);
    ASSERT_TRUE(ref.complete);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const std::string out = dir + "/out.h5";
  // First run: one block per rank, then stop as if interrupted.
  settings.max_blocks = 1;
  auto first = sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(first.interrupted);
  EXPECT_FALSE(first.complete);
  EXPECT_EQ(first.blocks_run, static_cast<std::uint64_t>(std::min(world_size(), 9)));
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    EXPECT_FALSE(file_exists(out));
    EXPECT_TRUE(file_exists(partial_path(out)));
    EXPECT_TRUE(file_exists(progress_path(out)));
  }
  // Second run with one block per rank more, then the rest.
  settings.max_blocks = 1;
  auto second = sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  EXPECT_EQ(second.blocks_skipped, first.blocks_run);
  EXPECT_TRUE(second.interrupted);
  settings.max_blocks = 0;
  auto last = sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(last.complete);
  EXPECT_EQ(last.blocks_skipped + last.blocks_run, 9u);
  EXPECT_GT(last.blocks_skipped, 0u);
  EXPECT_TRUE(last.all_transfers_collective);
  MPI_Barrier(MPI_COMM_WORLD);
  if (world_rank() == 0) {
    EXPECT_TRUE(file_exists(out));
    EXPECT_FALSE(file_exists(progress_path(out)));
    EXPECT_TRUE(testing::read_bytes(dir + "/ref.h5") == testing::read_bytes(out))
        << "resumed output differs from an uninterrupted run";
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// SIGUSR1 on rank 0 alone: every rank finishes its current block and stops; the
// rerun completes the file, byte-identical to an uninterrupted run.
TEST(SampleCatalogMpiTest, SignalStopsAfterTheCurrentBlockOnEveryRank) {
  const std::string dir = scratch("signal");
  auto catalog = shared_catalog(dir + "/cat.h5", 600, 4);
  auto settings = small_settings();
  settings.keep_samples = false;
  settings.block_rows = 5;  // 120 blocks
  const std::string out = dir + "/out.h5";
  std::thread signaller;
  if (world_rank() == 0) {
    signaller = std::thread([&] {
      // Wait until the run has laid out its file, then interrupt.
      for (int i = 0; i < 20000 && !std::filesystem::exists(progress_path(out)); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      std::raise(SIGUSR1);
    });
  }
  auto first = sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  if (signaller.joinable()) signaller.join();
  EXPECT_TRUE(first.interrupted);
  EXPECT_FALSE(first.complete);
  EXPECT_LT(first.blocks_run, 120u);
  auto rest = sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(rest.complete);
  EXPECT_EQ(rest.blocks_skipped, first.blocks_run);
  expect_same_bytes_as_one_process(catalog, settings, dir, out);
}

TEST(SampleCatalogMpiTest, ChangedSettingsAreRefusedOrStartOverNeverMix) {
  const std::string dir = scratch("restart");
  auto catalog = shared_catalog(dir + "/cat.h5", 30, 3);
  auto settings = small_settings();
  const std::string out = dir + "/out.h5";
  settings.max_blocks = 1;
  sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  // Another seed: the earlier blocks must not be reused, nor silently thrown away.
  settings.max_blocks = 0;
  settings.seed = 12;
  const auto partial_before = testing::read_bytes(out + ".partial");
  EXPECT_THROW(sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD),
               InputError);
  EXPECT_TRUE(testing::read_bytes(out + ".partial") == partial_before);
  MPI_Barrier(MPI_COMM_WORLD);
  auto discard = job_for(out);
  discard.discard_unfinished = true;  // --overwrite
  auto again = sample_catalog(testing::tiny_model(), catalog, discard, settings, nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(again.complete);
  EXPECT_EQ(again.blocks_skipped, 0u);
  EXPECT_EQ(again.blocks_run, 5u);
  expect_same_bytes_as_one_process(catalog, settings, dir, out);
}

// Issue 15: bf16 sampling is rank-count independent too (each batch is the same
// computation on any rank), gives other bytes than fp32, records its precision, and a
// partial fp32 run is not continued in bf16.
TEST(SampleCatalogMpiTest, Bf16IsByteIdenticalForAnyRankCountAndNeverMixedWithFp32) {
  const std::string dir = scratch("bf16");
  auto catalog = shared_catalog(dir + "/cat.h5", 30, 4);
  auto settings = small_settings();
  const std::string fp32_out = dir + "/fp32.h5", out = dir + "/out.h5";
  EXPECT_TRUE(
      sample_catalog(testing::tiny_model(), catalog, job_for(fp32_out), settings, nullptr, MPI_COMM_WORLD).complete);
  settings.max_blocks = 1;
  sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  settings.max_blocks = 0;
  settings.precision = model::Precision::kBFloat16;
  EXPECT_THROW(sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD),
               InputError);
  MPI_Barrier(MPI_COMM_WORLD);
  auto discard = job_for(out);
  discard.discard_unfinished = true;
  EXPECT_TRUE(sample_catalog(testing::tiny_model(), catalog, discard, settings, nullptr, MPI_COMM_WORLD).complete);
  expect_same_bytes_as_one_process(catalog, settings, dir, out);
  if (world_rank() == 0) {
    auto f = h5::File::open(out);
    EXPECT_EQ(f.attr_string("/", "precision").rfind("bf16:", 0), 0u) << f.attr_string("/", "precision");
    auto g = h5::File::open(fp32_out);
    const auto m16 = f.read<float>("/median"), m32 = g.read<float>("/median");
    ASSERT_EQ(m16.size(), m32.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < m16.size(); ++i) {
      if (std::isnan(m32[i])) continue;
      differ += m16[i] != m32[i];
      EXPECT_NEAR(m16[i], m32[i], 0.05 * std::abs(m32[i]) + 0.05) << "median " << i;
    }
    EXPECT_GT(differ, 0u);  // bf16 really ran
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// Rewrites `name` in an HDF5 file as a chunked dataset (`chunk` rows) with Fletcher-32
// checksums, and corrupts its last chunk on disk: reading those rows then fails.
void corrupt_last_chunk(const std::string& path, const std::string& name, hsize_t chunk) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t old = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  hid_t space = H5Dget_space(old);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<double> values(n);
  H5Dread(old, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dclose(old);
  H5Ldelete(f, name.c_str(), H5P_DEFAULT);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, &chunk);
  H5Pset_fletcher32(dcpl);
  hid_t d = H5Dcreate2(f, name.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  H5Dflush(d);
  const hsize_t last = (n + chunk - 1) / chunk - 1;  // (H5Dget_num_chunks reports 0 in HDF5 1.10.8)
  hsize_t offset[1] = {0};
  unsigned mask = 0;
  haddr_t addr = 0;
  hsize_t size = 0;
  const herr_t found = H5Dget_chunk_info(d, space, last, offset, &mask, &addr, &size);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
  ASSERT_GE(found, 0);
  ASSERT_EQ(offset[0], last * chunk);
  ASSERT_GT(size, 8u);
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(static_cast<std::streamoff>(addr + 3));
  io.put('\x5a');
}

// A read failure on one rank only (the last block's rows are corrupt): every rank
// stops with an error instead of the others waiting forever in a collective — both in
// the first pass over the ids and, for a catalogue without ids, inside the block loop.
TEST(SampleCatalogMpiTest, AFailureOnOneRankStopsEveryRank) {
  for (const bool with_ids : {true, false}) {
    const std::string dir = scratch(with_ids ? "one_rank_fails_ids" : "one_rank_fails");
    const std::string cat_path = dir + "/cat.h5";
    if (world_rank() == 0) {
      testing::write_hdf5_catalog(cat_path, testing::make_catalog(30, 4));
      if (!with_ids) {
        hid_t f = H5Fopen(cat_path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
        H5Ldelete(f, "/id", H5P_DEFAULT);
        H5Fclose(f);
      }
      corrupt_last_chunk(cat_path, "/" + testing::model_filters().front(), 10);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    auto catalog = CatalogReader::open(cat_path, testing::known_filters());
    EXPECT_EQ(catalog.has_id(), with_ids);
    auto settings = small_settings();
    settings.block_rows = 10;  // 3 blocks; only the last one is corrupt
    EXPECT_THROW(
        sample_catalog(testing::tiny_model(), catalog, job_for(dir + "/out.h5"), settings, nullptr, MPI_COMM_WORLD),
        Error);
    MPI_Barrier(MPI_COMM_WORLD);
    EXPECT_FALSE(std::filesystem::exists(dir + "/out.h5"));
  }
}

// A processor that fails on one block (on whichever rank owns it), and samples
// normally otherwise.
class FailOnBlock : public BlockProcessor {
 public:
  FailOnBlock(const SamplerSettings& settings, std::uint64_t fail_row0)
      : inner_(testing::tiny_model(), settings), fail_row0_(fail_row0) {}
  void run(const StarBlock& block, BlockResult& out) override {
    if (block.row0 == fail_row0_) throw InputError("injected failure at row " + std::to_string(block.row0));
    inner_.run(block, out);
  }
  std::vector<ExtraColumn> extra_columns() const override { return inner_.extra_columns(); }
  std::string describe() const override { return inner_.describe(); }
  std::vector<std::pair<std::string, std::string>> attributes() const override { return inner_.attributes(); }

 private:
  PosteriorSampler inner_;
  std::uint64_t fail_row0_;
};

// A run that fails removes what it created when no block was finished (a corrected
// rerun is not blocked by stale files), and keeps the partial and progress files,
// saying so, once blocks are finished; that rerun then resumes to the same bytes.
TEST(SampleCatalogMpiTest, AFailedRunRemovesWhatItMadeUnlessBlocksAreFinished) {
  const std::string dir = scratch("failed_run");
  auto catalog = shared_catalog(dir + "/cat.h5", 61, 21);
  const auto settings = small_settings();                            // 9 blocks of 7 rows
  const auto last = shard_range(9, world_size() - 1, world_size());  // the last rank's blocks
  const std::string out = dir + "/out.h5";
  for (const bool after_a_block : {false, true}) {
    const std::uint64_t fail_block = last.first + (after_a_block ? 1 : 0);
    FailOnBlock processor(settings, fail_block * settings.block_rows);
    std::string message;
    try {
      process_catalog(processor, catalog, job_for(out), settings, false, MPI_COMM_WORLD);
      ADD_FAILURE() << "expected the injected failure";
    } catch (const Error& e) {
      message = e.what();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == world_size() - 1) {
      EXPECT_NE(message.find("injected failure"), std::string::npos) << message;
    }
    if (!after_a_block) {
      EXPECT_NE(message.find("were removed"), std::string::npos) << message;
      EXPECT_FALSE(file_exists(partial_path(out)));
      EXPECT_FALSE(file_exists(progress_path(out)));
    } else {
      EXPECT_NE(message.find("finished block(s) are kept"), std::string::npos) << message;
      EXPECT_TRUE(file_exists(partial_path(out)));
      EXPECT_TRUE(file_exists(progress_path(out)));
    }
    EXPECT_FALSE(file_exists(out));
    MPI_Barrier(MPI_COMM_WORLD);
  }
  // The rerun resumes the finished blocks and completes to the bytes of a clean run.
  auto report = sample_catalog(testing::tiny_model(), catalog, job_for(out), settings, nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(report.complete);
  EXPECT_GT(report.blocks_skipped, 0u);
  expect_same_bytes_as_one_process(catalog, settings, dir, out);
}

TEST(SampleCatalogMpiTest, UnknownCatalogFilterIsAnInputErrorOnEveryRank) {
  const std::string dir = scratch("unknown");
  const std::string cat_path = dir + "/cat.csv";
  if (world_rank() == 0) testing::write_csv_catalog(cat_path, testing::make_catalog(5), {"WISE_W1"});
  MPI_Barrier(MPI_COMM_WORLD);
  auto catalog = CatalogReader::open(cat_path, testing::known_filters());
  const std::string out = dir + "/out.h5";
  try {
    sample_catalog(testing::tiny_model(), catalog, job_for(out), small_settings(), nullptr, MPI_COMM_WORLD);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("WISE_W1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2MASS_H"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(file_exists(partial_path(out)));
  // With ignore_unknown_filters the column is skipped and every row gets its output.
  auto job = job_for(out);
  job.ignore_unknown_filters = true;
  auto report = sample_catalog(testing::tiny_model(), catalog, job, small_settings(), nullptr, MPI_COMM_WORLD);
  EXPECT_TRUE(report.complete);
  EXPECT_EQ(report.rows, 5u);
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
}  // namespace irisml::infer
