// `irisml train` through the built binary: exit codes (0 done, 2 bad input, 3 stopped
// by SIGTERM after a checkpoint) and an existing checkpoint never damaged by a refused run.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_support.hpp"
#include "core/output_lock.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

namespace irisml::test {
namespace {

namespace fs = std::filesystem;

using test_support::read_bytes;

class TrainCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = scratch_dir("train");
    const std::string grid = dir_ + "/ck04.h5";
    auto r = run_irisml("grid import --quiet " + data_flags() + " --output " + grid);
    ASSERT_EQ(r.code, 0) << r.output;
    r = run_irisml("simulate --quiet " + data_flags() + " --grid " + grid +
                   " --stars 3000 --filters standard --output " + dir_ + "/train.h5");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  // A model small enough to train a few steps in a second or two.
  static std::string train(const std::string& run, const std::string& extra) {
    return "train --quiet " + data_flags() + " --data " + dir_ + "/train.h5 --output-dir " + dir_ + "/" + run +
           " --model.width 16 --model.layers 1 --model.ffn 32 --model.heads 2 --model.flow_blocks 2"
           " --model.made_hidden 16,16 --model.mixture_components 2 --model.dropout 0 --batch-size 64"
           " --validation-batch 256 --threads 1 " +
           extra;
  }
  static std::string dir_;
};
std::string TrainCliTest::dir_;

TEST_F(TrainCliTest, ExitCodesAndRefusedRunsKeepTheCheckpoint) {
  auto r = run_irisml(train("run", "--max-steps 3"));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string ckpt = dir_ + "/run/checkpoint.h5";
  ASSERT_TRUE(fs::exists(ckpt));
  const auto before = read_bytes(ckpt);

  r = run_irisml(train("run", "--max-steps 3"));  // a checkpoint is there: --resume or --overwrite
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  r = run_irisml(train("run", "--max-steps 3 --resume-if-present --overwrite"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--resume-if-present and --overwrite"), std::string::npos) << r.output;
  r = run_irisml(train("run", "--max-steps 3 --batch-size 0 --resume"));
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_irisml(train("run", "--resume --filters SDSS_g,SDSS_r,SDSS_i,2MASS_J,2MASS_H,2MASS_Ks --max-steps 3"));
  // (another filter list is another model)
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("different model"), std::string::npos) << r.output;
  EXPECT_EQ(read_bytes(ckpt), before);

  r = run_irisml("train --quiet " + data_flags() + " --data " + dir_ + "/missing.h5 --output-dir " + dir_ + "/x");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("missing.h5"), std::string::npos) << r.output;
}

// Issue 15: --precision bf16 trains, and the run's settings say so; on a CPU without
// native bf16 it falls back to fp32 with a warning. A bad value is refused before the run
// directory exists.
TEST_F(TrainCliTest, PrecisionBf16TrainsAndBadValuesAreRefused) {
  auto r = run_irisml(train("bf16", "--max-steps 3 --precision bf16"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto log = read_bytes(dir_ + "/bf16/train_log.jsonl");
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16")) {
    EXPECT_NE(log.find("precision=bf16"), std::string::npos) << log;
  } else {
    EXPECT_EQ(log.find("precision=bf16"), std::string::npos) << log;
    EXPECT_NE(r.output.find("running fp32"), std::string::npos) << r.output;
  }
  // fp32 runs record no precision (their settings are what they were before bf16 existed).
  r = run_irisml(train("fp32", "--max-steps 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_bytes(dir_ + "/fp32/train_log.jsonl").find("precision="), std::string::npos);

  r = run_irisml(train("fp16", "--max-steps 3 --precision fp16"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("precision 'fp16' is not known; allowed: fp32, bf16"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/fp16"));
}

// Issue 11 item 1: a run directory another run is training in is refused at once.
TEST_F(TrainCliTest, ASecondRunInTheSameDirectoryIsRefusedAtOnce) {
  const std::string run = dir_ + "/busy";
  fs::create_directories(run);
  {
    OutputLock held(run, run + "/train.lock");  // this test process plays the first run
    auto r = run_irisml(train("busy", "--max-steps 3"));
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find("is being written by another run"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(run + "/checkpoint.h5"));
    EXPECT_FALSE(fs::exists(run + "/train_log.jsonl"));
  }
  auto r = run_irisml(train("busy", "--max-steps 3"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(run + "/train.lock"));
}

TEST_F(TrainCliTest, SigtermCheckpointsAndExitsThreeThenResumeFinishes) {
  const std::string run = dir_ + "/signal";
  // Start a long run, wait until its log shows training has begun, then SIGTERM it.
  const std::string script = std::string(IRISML_BINARY) + " " + train("signal", "--epochs 1000") + " >" + dir_ +
                             "/signal.out 2>&1 & pid=$!; "
                             "for i in $(seq 600); do [ -s " +
                             run +
                             "/train_log.jsonl ] && break; sleep 0.1; done; "
                             "sleep 0.5; kill -TERM $pid; wait $pid; echo \"exit=$?\"";
  auto r = run_command(script);
  EXPECT_NE(r.output.find("exit=3"), std::string::npos) << r.output << read_bytes(dir_ + "/signal.out");
  ASSERT_TRUE(fs::exists(run + "/checkpoint.h5"));
  auto resumed = run_irisml(train("signal", "--max-steps 60 --resume"));
  EXPECT_EQ(resumed.code, 0) << resumed.output;
}

// Issue 11 item 5, what the README documents for mpirun (Open MPI 4.1): SIGUSR1 sent
// to mpiexec is forwarded to every rank, which checkpoint and exit 3, and mpiexec
// returns 3; SIGTERM sent to mpiexec is forwarded too, but mpiexec itself returns 1
// (and kills ranks still running after its 1 s odls_base_sigkill_timeout) — so scripts
// that requeue on exit code 3 must send SIGUSR1.
TEST_F(TrainCliTest, SignalsThroughMpiexecCheckpointAndUsr1GivesExitThree) {
  if (run_command("command -v mpiexec").code != 0) GTEST_SKIP() << "mpiexec unavailable";
  for (const std::string signal : {"USR1", "TERM"}) {
    const std::string name = "mpisignal_" + signal;
    const std::string run = dir_ + "/" + name;
    const std::string script = "mpiexec -n 2 --oversubscribe --allow-run-as-root " + std::string(IRISML_BINARY) + " " +
                               train(name, "--epochs 1000") + " >" + dir_ + "/" + name +
                               ".out 2>&1 & pid=$!; "
                               "for i in $(seq 900); do [ -s " +
                               run +
                               "/train_log.jsonl ] && break; sleep 0.1; done; "
                               "sleep 0.5; kill -" +
                               signal + " $pid; wait $pid; echo \"exit=$?\"";
    auto r = run_command(script);
    const std::string log = read_bytes(dir_ + "/" + name + ".out");
    if (signal == "USR1") {
      EXPECT_NE(r.output.find("exit=3"), std::string::npos) << r.output << log;
      EXPECT_TRUE(fs::exists(run + "/checkpoint.h5")) << log;
    } else {  // mpirun reports 1 whatever the ranks did (they checkpoint if done within its 1 s kill timeout)
      EXPECT_EQ(r.output.find("exit=3"), std::string::npos) << r.output << log;
      EXPECT_EQ(r.output.find("exit=0"), std::string::npos) << r.output << log;
    }
    EXPECT_FALSE(fs::exists(run + "/train.lock"));
  }
}

// `catalog make` observes stars with the [noise] model (here given as noise.* options,
// as a --config's [noise] section would); its own short options override it.
TEST_F(TrainCliTest, CatalogMakeFollowsTheNoiseSectionUnlessOverridden) {
  const std::string base = "catalog make " + data_flags() + " --from " + dir_ + "/train.h5 --stars 500 --overwrite";
  auto r = run_irisml(base + " --output " + dir_ + "/cat_noise.h5 --noise.bands_min 20 --noise.bands_max 22");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(min 20, max 22)"), std::string::npos) << r.output;
  r = run_irisml(base + " --output " + dir_ + "/cat_short.h5 --noise.bands_min 20 --bands-min 7 --bands-max 7");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("(min 7, max 7)"), std::string::npos) << r.output;
  r = run_irisml(base + " --output " + dir_ + "/cat_bad.h5 --noise.sigma_min -1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("noise.sigma_min = -1"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ + "/cat_bad.h5"));
}

}  // namespace
}  // namespace irisml::test

namespace irisml::test {
namespace {

// Issues 25 and 31: a model trained with star tokens and a per-band calibration records
// both; `sample` then reads the catalogue's parallax and A_V columns and uses the model's
// own calibration. A calibration without every model band is refused (exit 2).
TEST_F(TrainCliTest, StarTokensAndACalibrationTravelFromTrainToSample) {
  const std::string bands = "Gaia_G,Gaia_BP,Gaia_RP,2MASS_J,2MASS_H,2MASS_Ks";
  {
    std::ofstream partial(dir_ + "/partial.ini");
    partial << "[Gaia_G]\noffset = 0.01\nsigma_sys = 0.02\n";
    std::ofstream full(dir_ + "/full.ini");
    std::istringstream names(bands);
    std::string b;
    while (std::getline(names, b, ',')) full << "[" << b << "]\noffset = 0.01\nsigma_sys = 0.03\n";
  }
  const std::string tokens = "--max-steps 3 --filters " + bands +
                             " --noise.parallax_fraction 0.5 --noise.av_prior_fraction 0.5 --calibration ";
  auto r = run_irisml(train("partial_cal", tokens + dir_ + "/partial.ini"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("Gaia_BP, Gaia_RP, 2MASS_J, 2MASS_H, 2MASS_Ks"), std::string::npos) << r.output;
  r = run_irisml(train("tokens", tokens + dir_ + "/full.ini"));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string ckpt = dir_ + "/tokens/checkpoint.h5";
  {
    auto f = h5::File::open(ckpt);
    EXPECT_EQ(f.attr_int("/", "model.parallax_token"), 1);
    EXPECT_EQ(f.attr_int("/", "model.av_prior_token"), 1);
    EXPECT_EQ(f.attr_string("/", "noise.band_sigma_sys"), "0.03,0.03,0.03,0.03,0.03,0.03");
  }
  const std::string cat = dir_ + "/stars.csv";
  {
    std::ofstream csv(cat);
    csv << "id,Gaia_G,Gaia_G_err,Gaia_BP,Gaia_BP_err,Gaia_RP,Gaia_RP_err,2MASS_J,2MASS_J_err,2MASS_H,2MASS_H_err,"
           "2MASS_Ks,2MASS_Ks_err,parallax,parallax_err,av_max\n"
           "a,12.0,0.01,12.4,0.01,11.4,0.01,10.9,0.02,10.6,0.02,10.5,0.02,2.5,0.03,0.3\n"
           "b,14.0,0.01,14.6,0.01,13.3,0.01,12.5,0.02,12.0,0.02,11.9,0.02,,,\n";
  }
  const std::string post = dir_ + "/post.h5";
  r = run_irisml("sample " + data_flags() + " --model " + ckpt + " --catalog " + cat + " --output " + post +
                 " --no-ppc --samples 8 --threads 1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("calibration: the model's own"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("does not read"), std::string::npos) << r.output;  // the flow reads both columns
  auto f = h5::File::open(post);
  EXPECT_NE(f.attr_string("/", "calibration").find("trained with"), std::string::npos);
  EXPECT_EQ(f.read<float>("/median").size(), 10u);
}

}  // namespace
}  // namespace irisml::test

namespace irisml::test {
namespace {

// Issue 26 item 5: a full disk under simulate, train and sample ends the job with exit 1
// and one line naming the file and "no space left on device"; nothing half-written stays
// unless it can be resumed. Needs a small tmpfs (root with mount rights), else skipped.
TEST_F(TrainCliTest, AFullDiskEndsEachJobWithOneLineAndLeavesNothingHalfWritten) {
  const std::string disk = dir_ + "/tiny_disk";
  fs::create_directories(disk);
  if (run_command("mount -t tmpfs -o size=1M tmpfs " + disk).code != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  struct Unmount {
    std::string dir;
    ~Unmount() { run_command("umount " + dir); }
  } unmount{disk};
  auto expect_full = [](const RunResult& r, const std::string& needle) {
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("no space left on device"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("HDF5-DIAG"), std::string::npos) << r.output;
  };
  auto r = run_irisml("simulate --quiet " + data_flags() + " --grid " + dir_ + "/ck04.h5 --stars 20000 --output " +
                      disk + "/sim.h5");
  expect_full(r, "was removed");
  EXPECT_FALSE(fs::exists(disk + "/sim.h5.partial"));

  r = run_irisml("train --quiet " + data_flags() + " --data " + dir_ + "/train.h5 --output-dir " + disk +
                 "/run --model.width 256 --model.ffn 1024 --model.layers 2 --max-steps 1 --batch-size 64"
                 " --validation-batch 256 --threads 1");
  expect_full(r, "no checkpoint was written yet");
  EXPECT_FALSE(fs::exists(disk + "/run/checkpoint.h5.partial"));

  r = run_irisml(train("for_disk", "--max-steps 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_irisml("catalog make --quiet " + data_flags() + " --from " + dir_ + "/train.h5 --output " + dir_ +
                 "/disk_cat.h5 --overwrite");
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_irisml("sample --quiet " + data_flags() + " --model " + dir_ + "/for_disk/checkpoint.h5 --catalog " + dir_ +
                 "/disk_cat.h5 --output " + disk + "/post.h5 --no-ppc --keep-samples --block-rows 100000 --threads 1");
  expect_full(r, "no block was finished");
  EXPECT_FALSE(fs::exists(disk + "/post.h5.partial"));
  EXPECT_FALSE(fs::exists(disk + "/post.h5.progress"));
  EXPECT_FALSE(fs::exists(disk + "/post.h5.lock"));
}

}  // namespace
}  // namespace irisml::test
