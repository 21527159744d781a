// Paper-size throughput benchmarks: disabled by default (run with
// --gtest_also_run_disabled_tests --gtest_filter='*Bench*').
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "model/bench.hpp"

namespace irisml::model {
namespace {

ModelConfig paper_config() {
  ModelConfig c;
  c.n_filters = 25;
  return c;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

TEST(ModelBench, DISABLED_TrainStepPaperModel) {
  torch::set_num_threads(env_int("IRISML_BENCH_THREADS", 2));
  BenchOptions o;
  o.batch = env_int("IRISML_BENCH_BATCH", 64);
  o.iterations = env_int("IRISML_BENCH_ITERS", 10);
  auto r = bench_train_step(paper_config(), o);
  std::printf("train step: batch %lld, bands 6-25: median %.4f s (best %.4f s) -> %.1f stars/s\n",
              static_cast<long long>(o.batch), r.seconds_per_iteration, r.best_seconds, r.stars_per_second);
}

TEST(ModelBench, DISABLED_SamplePaperModel) {
  torch::set_num_threads(env_int("IRISML_BENCH_THREADS", 2));
  BenchOptions o;
  o.batch = env_int("IRISML_BENCH_BATCH", 64);
  o.iterations = env_int("IRISML_BENCH_ITERS", 10);
  o.min_bands = env_int("IRISML_BENCH_MIN_BANDS", 20);
  o.max_bands = env_int("IRISML_BENCH_MAX_BANDS", 20);
  o.samples = 64;
  auto r = bench_sample(paper_config(), o);
  std::printf("sample: batch %lld, bands %d-%d, 64 samples/star: median %.4f s (best %.4f s) -> %.1f stars/s\n",
              static_cast<long long>(o.batch), o.min_bands, o.max_bands, r.seconds_per_iteration, r.best_seconds,
              r.stars_per_second);
}

}  // namespace
}  // namespace irisml::model
