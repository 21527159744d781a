// sample, bench sample.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <sys/resource.h>
#include <cmath>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/rng.hpp"
#include "infer/sampler.hpp"
#include "io/catalog.hpp"
#include "model/config.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/noise.hpp"
#include "simulate/synthesizer.hpp"
#include "train/checkpoint.hpp"

namespace irisml::cli {

namespace {

// Exit code of a run stopped by SIGTERM/SIGUSR1 (or --max-blocks) before the end.
constexpr int kExitInterrupted = 3;

void add_sampler_options(Command& cmd) {
  infer::SamplerSettings d;
  cmd.options.add_options()
      ("samples", po::value<int>()->default_value(d.samples), "posterior samples per star")
      ("batch", po::value<long long>()->default_value(d.batch), "stars per network call")
      ("seed", po::value<long long>()->default_value(static_cast<long long>(d.seed)),
       "sampling seed (with the catalogue row, keys each star's random numbers)")
      ("threads", po::value<int>()->default_value(0), "CPU threads per rank (0 = cores / ranks on the node)")
      ("parallel", po::value<std::string>()->default_value("batches"),
       "how a rank uses its threads: batches (each thread samples whole batches with single-threaded LibTorch; "
       "fastest on CPUs) | intra-op (one batch at a time, LibTorch's threads inside each operation)");
}

// --parallel → SamplerSettings::workers for `threads` threads.
int workers_for(const po::variables_map& vm, int threads) {
  const std::string mode = vm["parallel"].as<std::string>();
  if (mode == "batches") return threads;
  if (mode == "intra-op") return 1;
  fail_input("--parallel = '{}' is not known; allowed: batches, intra-op", mode);
}

}  // namespace

int run_sample(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("sample",
              "Posterior samples and summaries (median, mean, std, 16/84th percentiles, 68/95% HDI, flags, "
              "posterior-predictive chi2) for every star of a catalogue, written collectively in catalogue order. "
              "Resumable: rerun the same command after an interruption (exit code 3) and finished blocks are "
              "skipped.",
              "mpirun -np N irisml sample --model run/checkpoint.h5 --catalog cat.h5|cat.csv|cat.fits --output "
              "post.h5 [--samples 64] [--keep-samples] [--batch B] [--seed S] [--columns a:b,...] [--missing -99] "
              "[--error-floor x] [--ignore-unknown-columns] [--grid G] [--overwrite] [--threads T]",
              {"sample"});
  add_common_options(cmd);
  add_grid_option(cmd);
  add_sampler_options(cmd);
  infer::SamplerSettings d;
  cmd.options.add_options()
      ("model", po::value<std::string>()->required(), "checkpoint of `irisml train` (checkpoint.h5 or best.h5)")
      ("catalog", po::value<std::string>()->required(), "catalogue: HDF5, CSV or FITS (docs/catalog_format.md)")
      ("output", po::value<std::string>()->required(), "posterior file to write (docs/posterior_format.md)")
      ("keep-samples", po::bool_switch(), "also store every sample (/samples, N x S x 5 float32)")
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(d.block_rows)),
       "catalogue rows per block: the unit of work, of collective writes and of resume")
      ("columns", po::value<std::string>()->default_value(""),
       "map catalogue column names to canonical ones: file_name:canonical,... (e.g. gmag:PS1_g,e_gmag:PS1_g_err)")
      ("missing", po::value<double>()->default_value(-99.0), "magnitude sentinel meaning 'band absent'")
      ("error-floor", po::value<double>()->default_value(0.0), "lower bound applied to every error [mag]")
      ("ignore-unknown-columns", po::bool_switch(),
       "warn about (instead of refusing) columns and filters that neither the registry nor the model knows")
      ("bands-min", po::value<int>()->default_value(-1),
       "fewest usable bands for a star to be sampled (-1 = the training bands_min from the checkpoint)")
      ("range-sigma", po::value<double>()->default_value(d.range_sigma),
       "flag stars with a standardised centred magnitude beyond this many training standard deviations")
      ("ppc-threshold", po::value<double>()->default_value(d.ppc_threshold),
       "flag stars whose posterior-predictive chi2/dof exceeds this")
      ("ppc-sigma-floor", po::value<double>()->default_value(d.ppc_sigma_floor),
       "model systematics (mag) added in quadrature to each band's error in the posterior-predictive chi2")
      ("no-ppc", po::bool_switch(), "skip the posterior-predictive check (no spectral grid needed)")
      ("max-blocks", po::value<int>()->default_value(0),
       "stop after this many blocks per rank, as if interrupted (testing; 0 = no limit)")
      ("overwrite", po::bool_switch(), "replace an existing --output (it is replaced only when the new one is complete)");
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string output = vm["output"].as<std::string>();
  const std::string model_path = vm["model"].as<std::string>();
  const std::string catalog_path = vm["catalog"].as<std::string>();
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  check_not_input(output, "--output", catalog_path, "--catalog");
  check_not_input(output, "--output", model_path, "--model");
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);

  infer::SamplerSettings s;
  s.samples = vm["samples"].as<int>();
  s.keep_samples = vm["keep-samples"].as<bool>();
  s.batch = vm["batch"].as<long long>();
  s.workers = workers_for(vm, threads);
  const long long seed = vm["seed"].as<long long>();
  if (seed < 0) fail_input("--seed = {} must be >= 0", seed);
  s.seed = static_cast<std::uint64_t>(seed);
  const long long block_rows = vm["block-rows"].as<long long>();
  if (block_rows <= 0) fail_input("--block-rows = {} must be positive", block_rows);
  s.block_rows = static_cast<std::uint64_t>(block_rows);
  s.range_sigma = vm["range-sigma"].as<double>();
  s.ppc_threshold = vm["ppc-threshold"].as<double>();
  s.ppc_sigma_floor = vm["ppc-sigma-floor"].as<double>();
  s.max_blocks = vm["max-blocks"].as<int>();
  s.progress = !log::quiet();
  s.validate();

  auto checkpoint = train::load_checkpoint(model_path, /*with_optimizer=*/false);
  auto model = train::build_model(checkpoint);
  const auto noise = sim::NoiseModel::from_items(checkpoint.noise, fmt::format("checkpoint '{}'", model_path));
  if (checkpoint.noise.empty()) {
    log::warn("checkpoint '{}' records no noise settings; assuming the defaults (bands_min={}, sigma_max={})",
              model_path, noise.bands_min, noise.sigma_max);
  }
  s.bands_min = vm["bands-min"].as<int>() >= 0 ? vm["bands-min"].as<int>() : noise.bands_min;
  s.bands_max = noise.bands_max;
  s.sigma_max = std::max(noise.sigma_max, noise.sigma_floor);

  auto registry = load_registry(vm);
  KnownFilters known;
  for (const auto& name : registry.names()) known.emplace_back(name, registry.get(name).catalog_offset);
  CatalogOptions copt;
  copt.column_map = parse_column_map(vm["columns"].as<std::string>());
  copt.missing_sentinel = vm["missing"].as<double>();
  copt.error_floor = vm["error-floor"].as<double>();
  if (!(copt.error_floor >= 0) || !std::isfinite(copt.error_floor)) {
    fail_input("--error-floor = {} must be a finite number >= 0 (mag)", copt.error_floor);
  }
  copt.ignore_unknown_columns = vm["ignore-unknown-columns"].as<bool>();
  auto catalog = CatalogReader::open(catalog_path, known, copt);
  if (!copt.ignore_unknown_columns) {  // fail before the (slow) grid is loaded
    infer::map_catalog_filters(catalog.filters(), checkpoint.filters, false, catalog_path);
  }

  std::unique_ptr<sim::Synthesizer> synth;
  std::string grid_key = "none";
  if (!vm["no-ppc"].as<bool>()) {
    auto grid = load_grid(vm);
    grid_key = grid->checksum;
    synth = std::make_unique<sim::Synthesizer>(grid, registry, checkpoint.filters);
  }

  infer::SampleJob job;
  job.output = output;
  job.model_path = model_path;
  job.model_filters = checkpoint.filters;
  job.ignore_unknown_filters = copt.ignore_unknown_columns;
  job.discard_unfinished = vm["overwrite"].as<bool>();
  job.inputs_key = fmt::format("columns={} missing={} error_floor={} ignore_unknown={} grid={} filters_config={}",
                               vm["columns"].as<std::string>(), copt.missing_sentinel, copt.error_floor,
                               copt.ignore_unknown_columns, grid_key, registry.source());
  log::info("sample: {} stars x {} samples, {} rank(s) x {} thread(s) ({}), batch {}, model {} ({} filters), "
            "bands_min {}, ppc {} -> {}",
            catalog.rows(), s.samples, ctx.size, threads, s.workers > 1 ? "batch-parallel" : "intra-op", s.batch,
            model_path, checkpoint.filters.size(),
            s.bands_min, synth ? "on" : "off", output);
  auto report = infer::sample_catalog(model, catalog, job, s, synth.get(), ctx.comm);
  const double rate = static_cast<double>(report.sampled) / std::max(report.seconds, 1e-9);
  log::info("sample: {} rows; this run: {} blocks ({} skipped as done), {} stars sampled in {:.1f} s ({:.1f} stars/s); "
            "flags: {} too few bands, {} outside the training range, {} posterior-predictive; {} bands dropped for a "
            "bad error",
            report.rows, report.blocks_run, report.blocks_skipped, report.sampled, report.seconds, rate,
            report.too_few_bands, report.outside_training, report.ppc_high, report.dropped_bad_error);
  if (report.interrupted) {
    log::info("sample: stopped before the end; rerun the same command to resume ({} keeps the finished blocks)",
              infer::progress_path(output));
    return kExitInterrupted;
  }
  log::info("sample: wrote {}", output);
  return 0;
}

namespace {

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds used by this process (all threads): with the wall time it shows how
// much of the machine the benchmark actually got on a shared host.
double cpu_seconds_now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // every thread, finished ones included
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

int run_bench_sample(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("bench sample",
              "Posterior-sampling throughput of the model in --config's [model] section (default: the paper sizes; "
              "random weights): per batch size, stars/s for the whole per-star work of `irisml sample` (context, "
              "S samples, summaries, HDIs) on stars observing --bands of --n-filters filters. No file I/O, no "
              "posterior-predictive check.",
              "irisml bench sample [--batch 64,256,1024] [--samples 64] [--bands 20] [--config configs/paper.ini] "
              "[--threads T] [--stars N]",
              {"bench-sample", "model"});
  add_common_options(cmd);
  add_model_options(cmd);
  cmd.options.add_options()
      ("batch", po::value<std::string>()->default_value("64,256,1024"), "batch sizes to time, comma list")
      ("samples", po::value<int>()->default_value(64), "posterior samples per star")
      ("bands", po::value<int>()->default_value(20), "bands per star")
      ("n-filters", po::value<int>()->default_value(25), "filters the model knows")
      ("stars", po::value<long long>()->default_value(2048),
       "stars timed per batch size (rounded up to whole batches, at least one per thread)")
      ("repeat", po::value<int>()->default_value(2), "timed passes per batch size (the best is reported)")
      ("threads", po::value<int>()->default_value(0), "CPU threads per rank (0 = cores / ranks on the node)")
      ("parallel", po::value<std::string>()->default_value("batches,intra-op"),
       "thread modes to time, comma list: batches (whole batches per thread) | intra-op (LibTorch's threads)")
      ("seed", po::value<long long>()->default_value(1), "seed of the weights and the synthetic stars");
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  model::ModelConfig config = model_config_from(vm);
  config.n_filters = vm["n-filters"].as<int>();
  config.validate();
  const int bands = vm["bands"].as<int>();
  if (bands < 1 || bands > config.n_filters) {
    fail_input("--bands = {} must be between 1 and --n-filters = {}", bands, config.n_filters);
  }
  const long long stars = vm["stars"].as<long long>();
  if (stars < 1) fail_input("--stars = {} must be positive", stars);
  const int repeat = std::max(1, vm["repeat"].as<int>());
  std::vector<long long> batches;
  for (const auto& item : split_list(vm["batch"].as<std::string>())) {
    long long b = 0;
    try {
      b = std::stoll(item);
    } catch (const std::exception&) {
      fail_input("--batch: '{}' is not a whole number", item);
    }
    if (b < 1) fail_input("--batch: {} must be positive", b);
    batches.push_back(b);
  }
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);
  const auto seed = static_cast<std::uint64_t>(vm["seed"].as<long long>());
  torch::manual_seed(seed);
  model::PosteriorEstimator model(config);
  model->eval();

  std::vector<std::string> modes = split_list(vm["parallel"].as<std::string>());
  for (const auto& mode : modes) {
    if (mode != "batches" && mode != "intra-op") {
      fail_input("--parallel: '{}' is not known; allowed: batches, intra-op", mode);
    }
  }
  for (std::size_t k = 0; k < modes.size() * batches.size(); ++k) {
    const std::string& mode = modes[k / batches.size()];
    const long long batch = batches[k % batches.size()];
    infer::SamplerSettings s;
    s.workers = mode == "batches" ? threads : 1;
    s.samples = vm["samples"].as<int>();
    s.batch = batch;
    s.bands_min = 1;
    s.seed = seed;
    infer::PosteriorSampler sampler(model, s);
    // A block of stars, each observing `bands` distinct random filters.
    // Whole batches, at least one per worker thread.
    const std::uint64_t rows = static_cast<std::uint64_t>(
        std::max<long long>((stars + batch - 1) / batch, s.workers) * batch);
    infer::StarBlock block;
    block.rows = rows;
    block.n_columns = config.n_filters;
    for (int f = 0; f < config.n_filters; ++f) block.column_filter.push_back(f);
    block.mag.assign(rows * config.n_filters, std::numeric_limits<float>::quiet_NaN());
    block.err = block.mag;
    std::vector<int> order(static_cast<std::size_t>(config.n_filters));
    for (std::uint64_t r = 0; r < rows; ++r) {
      Philox rng(seed, r);
      for (int f = 0; f < config.n_filters; ++f) order[static_cast<std::size_t>(f)] = f;
      for (int i = config.n_filters - 1; i > 0; --i) {
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(rng.uniform() * (i + 1))]);
      }
      for (int i = 0; i < bands; ++i) {
        const std::size_t o = r * config.n_filters + static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
        block.mag[o] = static_cast<float>(15.0 + rng.normal(0.0, 1.0));
        block.err[o] = static_cast<float>(0.005 + 0.1 * rng.uniform());
      }
    }
    infer::BlockResult out;
    {  // warm-up: one batch
      infer::StarBlock warm = block;
      warm.rows = static_cast<std::uint64_t>(batch);
      warm.mag.resize(warm.rows * config.n_filters);
      warm.err.resize(warm.rows * config.n_filters);
      sampler.run(warm, out);
    }
    double best = 1e300, best_cpu = 0.0;
    for (int r = 0; r < repeat; ++r) {
      const double t0 = seconds_now(), c0 = cpu_seconds_now();
      sampler.run(block, out);
      const double t = seconds_now() - t0;
      if (t < best) {
        best = t;
        best_cpu = cpu_seconds_now() - c0;
      }
    }
    if (ctx.rank == 0) {
      std::cout << fmt::format(
          "bench sample: parallel={} batch={} samples={} bands={} threads={} stars={} model=[{}] best_s={:.3f} "
          "cpu_s={:.3f} stars_per_s={:.1f} samples_per_s={:.0f} stars_per_cpu_s={:.1f}\n",
          mode, batch, s.samples, bands, threads, rows, config.describe(), best, best_cpu, rows / best,
          rows * s.samples / best, rows / std::max(best_cpu, 1e-9));
    }
  }
  return 0;
}

}  // namespace irisml::cli
