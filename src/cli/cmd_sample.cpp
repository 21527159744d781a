// sample, bench sample.
#include <mpi.h>

#include <algorithm>
#include <sys/resource.h>
#include <cmath>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/catalog_options.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/export_options.hpp"
#include "cli/options.hpp"
#include "core/cpu_runtime.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "core/paths.hpp"
#include "core/rng.hpp"
#include "distributed/environment.hpp"
#include "infer/catalog_job.hpp"
#include "io/catalog.hpp"
#include "model/config.hpp"
#include "simulate/calibration.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/likelihood.hpp"
#include "simulate/simulator.hpp"
#include "infer/fit.hpp"
#include "simulate/noise.hpp"
#include "simulate/synthesizer.hpp"
#include "model/checkpoint_info.hpp"

namespace irisml::cli {

namespace {

// Exit code of a run stopped by SIGTERM/SIGUSR1 (or --max-blocks) before the end.
constexpr int kExitInterrupted = 3;

// The flow sampler's options, bound to `s` (its values are the defaults).
void add_sampler_options(Command& cmd, infer::SamplerSettings& s) {
  // clang-format off
  cmd.options.add_options()
      ("samples", po::value<int>(&s.samples)->default_value(s.samples), "posterior samples per star")
      ("batch", po::value<std::int64_t>(&s.batch)->default_value(s.batch), "stars per network call")
      ("parallel", po::value<std::string>()->default_value("batches"),
       "how a rank uses its threads: batches (each thread samples whole batches with single-threaded LibTorch; "
       "fastest on CPUs; the same bytes for any --threads and rank count) | intra-op (one batch at a time, "
       "LibTorch's threads inside each operation; with more than one thread the round-off differs, recorded in "
       "the output's 'parallel' attribute)");
  // clang-format on
}

// The catalogue-job options shared by sample and fit: inputs, output, seed, threads and
// the block structure (the unit of work, of collective writes and of resume); the block
// rows' default is s.block_rows, --max-blocks is bound to s.max_blocks.
void add_job_options(Command& cmd, infer::SamplerSettings& s) {
  // clang-format off
  cmd.options.add_options()
      ("catalog", po::value<std::string>()->required(), "catalogue: HDF5, CSV or FITS (docs/catalog_format.md)")
      ("output", po::value<std::string>()->required(), "posterior file to write (docs/posterior_format.md)")
      ("seed", po::value<long long>()->default_value(1),
       "seed (with the catalogue row, keys each star's random numbers)")
      ("threads", po::value<int>()->default_value(0), "CPU threads per rank (0 = cores / ranks on the node)")
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(s.block_rows)),
       "catalogue rows per block: the unit of work, of collective writes and of resume")
      ("max-blocks", po::value<int>(&s.max_blocks)->default_value(s.max_blocks),
       "stop after this many blocks per rank, as if interrupted (testing; 0 = no limit)")
      ("overwrite", po::bool_switch(), "replace an existing --output (it is replaced only when the new one is complete)");
  // clang-format on
  add_export_option(cmd);
}

// --output, checked against every input (--catalog, --model, --grid, ...); returns it.
std::string checked_output(const po::variables_map& vm) {
  const std::string output = vm["output"].as<std::string>();
  check_output_against_inputs(vm, output);
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  return output;
}

// Seed, block rows and progress of the job options into `s`.
void job_settings_from(const po::variables_map& vm, infer::SamplerSettings& s) {
  const long long seed = vm["seed"].as<long long>();
  if (seed < 0) fail_input("--seed = {} must be >= 0", seed);
  s.seed = static_cast<std::uint64_t>(seed);
  const long long block_rows = vm["block-rows"].as<long long>();
  if (block_rows <= 0) fail_input("--block-rows = {} must be positive", block_rows);
  s.block_rows = static_cast<std::uint64_t>(block_rows);
  s.progress = !log::quiet();
}

// The training observation model's input error minimum, and its systematic term as the
// likelihood's unless --sigma-sys was given (sample --importance and fit --model).
void use_training_noise(const simulate::NoiseModel& noise, const po::variables_map& vm, infer::SamplerSettings& s) {
  s.input_error_min = noise.error_min();
  if (vm["sigma-sys"].defaulted()) s.sigma_sys = noise.sigma_sys;
}

// The distance model used for stars with a parallax (fit, sample --importance).
void add_distance_options(Command& cmd) {
  simulate::DistanceSettings d;
  // clang-format off
  cmd.options.add_options()
      ("parallax-zero-point", po::value<std::string>()->default_value("0"),
       "parallax zero point subtracted from every catalogue parallax: a number (mas; Gaia DR3's mean is about "
       "-0.017 for 5-parameter solutions), or lindegren2021 for Gaia EDR3/DR3's per-source zero point of "
       "Lindegren et al. 2021 from G, nu_eff_used_in_astrometry, pseudocolour, ecl_lat and "
       "astrometric_params_solved (docs/distance.md)")
      ("mass-min", po::value<double>()->default_value(d.mass_min),
       "lower end (M_sun) of the log-uniform mass prior that ties a parallax to the photometry")
      ("mass-max", po::value<double>()->default_value(d.mass_max), "upper end (M_sun) of that mass prior")
      ("distance-length-scale", po::value<double>()->default_value(d.length_scale),
       "length scale L (pc) of the distance prior p(d) ~ d^2 exp(-d/L)");
  // clang-format on
}

// --parallax-zero-point's value that asks for the Lindegren et al. (2021) zero point,
// applied per row while the catalogue is read (CatalogOptions::gaia_zero_point).
constexpr const char* kLindegren2021 = "lindegren2021";

simulate::DistanceSettings distance_settings_from(const po::variables_map& vm) {
  simulate::DistanceSettings d;
  const std::string zero_point = vm["parallax-zero-point"].as<std::string>();
  if (zero_point == kLindegren2021) {
    d.zero_point_model = zero_point;  // applied per row by the catalogue reader
  } else {
    std::size_t used = 0;
    try {
      d.parallax_zero_point = std::stod(zero_point, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != zero_point.size()) {
      fail_input("--parallax-zero-point = '{}' is neither a number (mas) nor {}", zero_point, kLindegren2021);
    }
  }
  d.mass_min = vm["mass-min"].as<double>();
  d.mass_max = vm["mass-max"].as<double>();
  d.length_scale = vm["distance-length-scale"].as<double>();
  d.validate();
  return d;
}

// The catalogue options of a job that reads star constraints: the command's, with the
// reader applying the per-source parallax zero point when the distance settings ask.
CatalogOptions constraint_catalog_options(const po::variables_map& vm, const simulate::DistanceSettings& d) {
  CatalogOptions copt = catalog_options_from(vm);
  copt.gaia_zero_point = d.zero_point_model == kLindegren2021;
  return copt;
}

// The star-constraint columns and distance model for the resume key (empty without
// constraint columns, so that other runs keep their key).
std::string constraints_key(const CatalogReader& catalog, const simulate::DistanceSettings& d) {
  if (!catalog.has_constraints()) return "";
  std::vector<std::string> present;
  for (int c = 0; c < kConstraintCount; ++c) {
    if (catalog.has_constraint(static_cast<ConstraintColumn>(c))) present.push_back(kConstraintNames[c]);
  }
  return fmt::format(" constraints={} distance=[{}]", fmt::join(present, ","), d.describe());
}

void add_calibration_option(Command& cmd) {
  cmd.options.add_options()("calibration", po::value<std::string>()->default_value(""),
                            "per-band calibration file of `irisml calibrate` (zero-point offsets and systematic "
                            "errors; docs/observation_model.md): it must cover every band the catalogue gives the "
                            "model");
}

// --calibration into `s` for the model's filters (after s.sigma_sys is final): every band
// the catalogue gives the model must be covered (InputError naming the missing ones).
// Without --calibration, a model trained for a calibration (`train --calibration`) brings
// its own: the checkpoint's per-band offsets and sigma_sys (`trained`, its noise model).
void apply_calibration(const po::variables_map& vm, const simulate::FilterRegistry& registry,
                       const std::vector<std::string>& model_filters, const CatalogReader& catalog,
                       infer::SamplerSettings& s, const simulate::NoiseModel* trained = nullptr) {
  const std::string path = vm["calibration"].as<std::string>();
  if (path.empty() && trained && trained->calibrated()) {
    if (trained->band_sigma_sys.size() != model_filters.size()) {
      fail_input("the checkpoint's noise.band_sigma_sys has {} values for {} filters", trained->band_sigma_sys.size(),
                 model_filters.size());
    }
    s.band_offset = trained->band_offset;
    s.band_sigma_sys = trained->band_sigma_sys;
    s.calibration = fmt::format("calibration=[trained with {}: offset={} sigma_sys={}]", trained->calibration,
                                fmt::join(s.band_offset, ","), fmt::join(s.band_sigma_sys, ","));
    log::info("calibration: the model's own (trained with '{}'); --calibration FILE overrides it for the likelihood",
              trained->calibration);
    return;
  }
  if (path.empty()) return;
  const auto calibration = simulate::Calibration::load(path, registry.names());
  std::vector<std::string> used;
  for (const auto& f : catalog.filters()) {
    if (std::find(model_filters.begin(), model_filters.end(), f) != model_filters.end()) used.push_back(f);
  }
  calibration.for_bands(used, fmt::format("catalogue '{}'", catalog.path()));
  s.band_offset.assign(model_filters.size(), 0.0);
  s.band_sigma_sys.assign(model_filters.size(), s.sigma_sys);
  for (std::size_t i = 0; i < model_filters.size(); ++i) {
    if (const auto* b = calibration.find(model_filters[i])) {
      s.band_offset[i] = b->offset;
      s.band_sigma_sys[i] = b->sigma_sys;
    }
  }
  s.calibration = calibration.describe();
}

// The prior a model was trained with: recorded in its checkpoint, or (older
// checkpoints) read from the training set it names. The grid must be the training
// grid, or the likelihood would not be the physics the model learned.
simulate::PriorConfig training_prior(const model::CheckpointInfo& ckpt, const std::string& model_path,
                                     const simulate::SpectralGrid& grid) {
  auto items = ckpt.prior;
  std::string checksum = ckpt.grid_checksum;
  std::string source = fmt::format("checkpoint '{}'", model_path);
  if (items.empty()) {
    try {
      const auto info = simulate::read_training_set_info(ckpt.data_path);
      items = info.prior;
      checksum = info.grid_checksum;
      source = fmt::format("training set '{}' (named by checkpoint '{}')", ckpt.data_path, model_path);
    } catch (const std::exception& e) {
      fail_input(
          "checkpoint '{}' records no training prior, and its training set '{}' cannot be read for it ({}); "
          "retrain with this version, or put the training set back at that path",
          model_path, ckpt.data_path, e.what());
    }
  }
  if (!checksum.empty() && checksum != grid.checksum) {
    fail_input(
        "the model was trained on a grid with checksum {} ({}) but --grid '{}' has checksum {}; the likelihood "
        "must use the training grid",
        checksum, source, grid.source, grid.checksum);
  }
  return simulate::PriorConfig::from_items(items, source);
}

// --parallel → SamplerSettings::workers for `threads` threads.
int workers_for(const po::variables_map& vm, int threads) {
  const std::string mode = vm["parallel"].as<std::string>();
  if (mode == "batches") return threads;
  if (mode == "intra-op") return 1;
  fail_input("--parallel = '{}' is not known; allowed: batches, intra-op", mode);
}

// The rest of `sample`'s settings (beyond the bound options) and their checks; the
// checkpoint's training range comes later.
void finish_sample_settings(const po::variables_map& vm, int threads, model::Precision precision,
                            infer::SamplerSettings& s) {
  s.workers = workers_for(vm, threads);
  s.intra_op_threads = s.workers == 1 ? threads : 1;
  s.precision = precision;
  job_settings_from(vm, s);
  if (!s.importance && (s.sir || s.retry_factor > 0 || vm["ess-threshold"].defaulted() == false)) {
    fail_input("--sir, --retry-factor and --ess-threshold need --importance");
  }
  s.validate();
}

// Whether the model's flow reads the catalogue's star constraints (its star tokens); warns
// (rank 0, once per job) about constraints it does not read when only the flow is used.
bool flow_reads_constraints(const CatalogReader& catalog, const model::ModelConfig& mc, bool importance, int rank) {
  const bool has_parallax = catalog.has_constraint(kParallax);
  const bool has_av = catalog.has_constraint(kAvPrior) || catalog.has_constraint(kAvMax);
  const bool unread = (has_parallax && !mc.parallax_token) || (has_av && !mc.av_prior_token);
  if (unread && !importance && rank == 0) {
    log::warn(
        "sample: catalogue '{}' has star constraints (parallax / A_V prior) that this model's flow does not read "
        "(it has {}); only --importance (and `irisml fit`) use them",
        catalog.path(),
        mc.parallax_token ? "a parallax token only"
                          : (mc.av_prior_token ? "an A_V-prior token only" : "no star tokens"));
  }
  return (has_parallax && mc.parallax_token) || (has_av && mc.av_prior_token);
}

// The physics `sample` needs: the synthesizer (for the PPC or the weights), and with
// --importance the training prior and the likelihood; grid_key "none" without a grid.
struct SamplePhysics {
  std::unique_ptr<simulate::Synthesizer> synth;
  std::unique_ptr<simulate::Prior> prior;
  std::unique_ptr<simulate::PhotometricPosterior> target;
  std::string grid_key = "none";
};

SamplePhysics sample_physics(const po::variables_map& vm, const simulate::FilterRegistry& registry,
                             const model::CheckpointInfo& checkpoint, const std::string& model_path,
                             const infer::SamplerSettings& s, const simulate::DistanceSettings& distance) {
  SamplePhysics x;
  if (vm["no-ppc"].as<bool>() && !s.importance) return x;
  auto grid = load_grid(vm);
  x.grid_key = grid->checksum;
  x.synth = std::make_unique<simulate::Synthesizer>(grid, registry, checkpoint.filters);
  if (s.importance) {
    x.prior = std::make_unique<simulate::Prior>(make_prior(training_prior(checkpoint, model_path, *grid), *grid, vm));
    if (x.prior->isochrone() && !s.physical) {
      log::warn(
          "sample: the model's isochrone prior without a parallax column: its volume density favours dwarfs, "
          "so giants of a magnitude-limited catalogue get too high a log g (docs/isochrone_prior.md)");
    }
    x.target = std::make_unique<simulate::PhotometricPosterior>(*x.synth, *x.prior, distance);
  }
  return x;
}

void log_sample_report(const infer::SampleReport& report, const infer::SamplerSettings& s) {
  const double rate = static_cast<double>(report.sampled) / std::max(report.seconds, 1e-9);
  log::info(
      "sample: {} rows; this run: {} blocks ({} skipped as done), {} stars sampled in {:.1f} s ({:.1f} stars/s); "
      "flags: {} too few bands, {} outside the training range, {} posterior-predictive; {} bands dropped as "
      "unusable (an error <= 0 or not finite, or a magnitude outside [-30, 60]), {} missing (empty, null, NaN or a "
      "missing value), {} upper limits (a magnitude without an error), {} non-positive fluxes",
      report.rows, report.blocks_run, report.blocks_skipped, report.sampled, report.seconds, rate, report.too_few_bands,
      report.outside_training, report.ppc_high, report.dropped_unusable, report.missing, report.upper_limits,
      report.nonpositive_flux);
  if (s.importance) log::info("sample: {} stars with importance ESS/S below {}", report.low_ess, s.ess_threshold);
  if (report.constraints_dropped > 0) {
    log::info("sample: {} star constraints dropped as unusable (an error or width not finite and > 0)",
              report.constraints_dropped);
  }
}

}  // namespace

int run_sample(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("sample",
              "Posterior samples and summaries (median, mean, std, 16/84th percentiles, 68/95% HDI, flags, "
              "posterior-predictive chi2) for every star of a catalogue, written collectively in catalogue order. "
              "Resumable: rerun the same command after an interruption (exit code 3) and finished blocks are "
              "skipped.",
              "mpirun -np N irisml sample --model run/checkpoint.h5 --catalog cat.h5|cat.csv|cat.fits --output "
              "post.h5 [--samples 64] [--keep-samples] [--batch B] [--seed S] [--columns a:b,...] "
              "[--columns-preset gaia_dr3,...] [--missing -99] "
              "[--error-floor x] [--ignore-unknown-columns] [--grid G] [--overwrite] [--threads T]",
              {"sample"});
  add_common_options(cmd);
  add_grid_option(cmd);
  infer::SamplerSettings s;
  add_job_options(cmd, s);
  add_sampler_options(cmd, s);
  add_precision_option(cmd);
  add_catalog_options(cmd);
  add_distance_options(cmd);
  add_calibration_option(cmd);
  // clang-format off
  cmd.options.add_options()
      ("model", po::value<std::string>()->required(), "checkpoint of `irisml train` (checkpoint.h5 or best.h5)")
      ("keep-samples", po::bool_switch(&s.keep_samples), "also store every sample (/samples, N x S x 5 float32)")
      ("importance", po::bool_switch(&s.importance),
       "importance-reweight each star's samples with the exact prior x likelihood of the training physics "
       "(log w = log prior + log L - log q): ESS and weighted summaries under /importance")
      ("ess-threshold", po::value<double>(&s.ess_threshold)->default_value(s.ess_threshold),
       "with --importance: flag (bit 3) stars whose ESS/S is below this")
      ("retry-factor", po::value<int>(&s.retry_factor)->default_value(s.retry_factor),
       "with --importance: redraw stars below --ess-threshold with this many times S proposals (0 = off)")
      ("sir", po::bool_switch(&s.sir), "with --importance: store S equal-weight resampled draws (/importance/samples)")
      ("sigma-sys", po::value<double>(&s.sigma_sys)->default_value(s.sigma_sys, "the checkpoint's noise.sigma_sys"),
       "with --importance: systematic error (mag) added in quadrature to every band's error in the likelihood "
       "(default: the training observation model's)")
      ("bands-min", po::value<int>()->default_value(-1),
       "fewest usable bands for a star to be sampled (-1 = the training bands_min from the checkpoint)")
      ("range-sigma", po::value<double>(&s.range_sigma)->default_value(s.range_sigma),
       "flag stars with a standardised centred magnitude beyond this many training standard deviations")
      ("ppc-alpha", po::value<double>(&s.ppc_alpha)->default_value(s.ppc_alpha),
       "flag stars whose posterior-predictive p-value (over the samples) is below this: the fraction of stars "
       "that follow the model flagged by chance")
      ("ppc-sigma-floor", po::value<double>(&s.ppc_sigma_floor)->default_value(s.ppc_sigma_floor),
       "model systematics (mag) added in quadrature to each band's error in the posterior-predictive chi2")
      ("no-ppc", po::bool_switch(), "skip the posterior-predictive check (no spectral grid needed)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const auto precision = precision_from(vm, "cpu", ctx.rank);
  const std::string model_path = vm["model"].as<std::string>();
  const std::string catalog_path = vm["catalog"].as<std::string>();
  const std::string output = checked_output(vm);
  const std::string export_path = checked_export_path(vm);
  const auto lock = distributed::lock_output(output, ctx.comm);  // held to the end: one run per output
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);

  finish_sample_settings(vm, threads, precision, s);
  const simulate::DistanceSettings distance = distance_settings_from(vm);

  const auto checkpoint = model::load_checkpoint_info(model_path);
  const auto noise = simulate::NoiseModel::from_items(checkpoint.noise, fmt::format("checkpoint '{}'", model_path));
  if (checkpoint.noise.empty()) {
    log::warn("checkpoint '{}' records no noise settings; assuming the defaults (bands_min={}, sigma_max={})",
              model_path, noise.bands_min, noise.sigma_max);
  }
  s.bands_min = vm["bands-min"].as<int>() >= 0 ? vm["bands-min"].as<int>() : noise.bands_min;
  s.bands_max = noise.bands_max;
  s.sigma_max = std::max(noise.sigma_max, noise.sigma_floor);
  use_training_noise(noise, vm, s);
  s.input_sigma_sys = noise.sigma_sys;
  s.input_band_sigma_sys = noise.band_sigma_sys;
  infer::check_sampling_memory(s, checkpoint.model_config,
                               static_cast<double>(usable_memory_bytes()) / std::max(1, ctx.local_size));

  auto registry = load_registry(vm);
  const CatalogOptions copt = constraint_catalog_options(vm, distance);
  auto catalog = CatalogReader::open(catalog_path, known_of(registry), copt);
  if (!copt.ignore_unknown_columns) {  // fail before the (slow) grid is loaded
    infer::map_catalog_filters(catalog.filters(), checkpoint.filters, false, catalog_path);
  }

  apply_calibration(vm, registry, checkpoint.filters, catalog, s, &noise);
  s.parallax_zero_point = distance.parallax_zero_point;
  if (catalog.has_constraint(kParallax)) s.parallax_zero_point_text = vm["parallax-zero-point"].as<std::string>();
  const bool flow_uses = flow_reads_constraints(catalog, checkpoint.model_config, s.importance, ctx.rank);
  s.physical = s.importance && catalog.has_constraint(kParallax);
  const SamplePhysics physics = sample_physics(vm, registry, checkpoint, model_path, s, distance);
  const bool ppc_on = !vm["no-ppc"].as<bool>();

  infer::SampleJob job;
  job.output = output;
  job.model_path = model_path;
  job.model_filters = checkpoint.filters;
  job.ignore_unknown_filters = copt.ignore_unknown_columns;
  job.discard_unfinished = vm["overwrite"].as<bool>();
  job.inputs_key = fmt::format("columns={} missing={} error_floor={} ignore_unknown={} grid={} filters_config={}{}{}",
                               vm["columns"].as<std::string>(), copt.missing_sentinel, copt.error_floor,
                               copt.ignore_unknown_columns, physics.grid_key, registry.source(), presets_key(vm, copt),
                               s.importance || flow_uses ? constraints_key(catalog, distance) : std::string());
  log::info(
      "sample: {} stars x {} samples, {} rank(s) x {} thread(s) ({}), batch {}, model {} ({} filters), "
      "bands_min {}, ppc {} -> {}",
      catalog.rows(), s.samples, ctx.size, threads, s.workers > 1 ? "batch-parallel" : "intra-op", s.batch, model_path,
      checkpoint.filters.size(), s.bands_min, ppc_on ? "on" : "off", output);
  auto report =
      infer::sample_catalog(catalog, job, s, ppc_on ? physics.synth.get() : nullptr, ctx.comm, physics.target.get());
  log_sample_report(report, s);
  if (report.interrupted) {
    log::info("sample: stopped before the end; rerun the same command to resume ({} keeps the finished blocks)",
              infer::progress_path(output));
    return kExitInterrupted;
  }
  log::info("sample: wrote {}", output);
  if (!export_path.empty()) write_export(vm, output, export_path, command_line("sample", args), ctx);
  return 0;
}

namespace {
// The rest of `fit`'s settings (beyond the bound options) and their checks.
void finish_fit_settings(const po::variables_map& vm, int threads, const infer::ReferenceSettings& r,
                         infer::SamplerSettings& s) {
  r.validate();
  s.keep_samples = !vm["no-samples"].as<bool>();
  s.workers = threads;
  job_settings_from(vm, s);
  if (s.bands_min < 2) fail_input("--bands-min = {} must be at least 2 (one band carries no colour)", s.bands_min);
  s.validate();
}

void log_fit_report(const infer::SampleReport& report, std::uint64_t evaluations, double min_ess, int ranks) {
  log::info(
      "fit: {} rows; this run: {} blocks ({} skipped as done), {} stars fitted in {:.1f} s ({:.3f} s per star "
      "and rank, {:.0f} likelihood evaluations per star); {} too few bands, {} with ESS below {}",
      report.rows, report.blocks_run, report.blocks_skipped, report.sampled, report.seconds,
      report.seconds * ranks / std::max<double>(1.0, static_cast<double>(report.sampled)),
      static_cast<double>(evaluations) * ranks / std::max<double>(1.0, static_cast<double>(report.sampled)),
      report.too_few_bands, report.low_ess, min_ess);
  if (report.constraints_dropped > 0) {
    log::info("fit: {} star constraints dropped as unusable (an error or width not finite and > 0)",
              report.constraints_dropped);
  }
}
}  // namespace

int run_fit(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("fit",
              "The exact reference posterior of every star of a catalogue under the simulator's physics and the "
              "training prior (prior x likelihood, the distance offset marginalised), by adaptive importance "
              "sampling: slow (~0.1-1 s per star and core) and exact up to Monte Carlo error, which each star's "
              "ESS (/reference/ess) measures. Written in the posterior format, so `irisml evaluate` reads it "
              "(--reference compares a flow's posteriors with it). Resumable like sample. "
              "Method: docs/reference_posterior.md.",
              "mpirun -np N irisml fit --catalog cat.h5|cat.csv|cat.fits --output ref.h5 [--model run/checkpoint.h5] "
              "[--samples 64] [--proposals 4096] [--max-rounds 4] [--target-ess 1000] [--min-ess 100] "
              "[--sigma-sys 0] [--seed S] [--threads T] [--grid G] [--columns a:b,...] [--columns-preset NAME,...] "
              "[--overwrite]",
              {"fit", "prior"});
  add_common_options(cmd);
  add_grid_option(cmd);
  add_prior_options(cmd);
  infer::SamplerSettings s;  // fit's defaults where they differ from sample's
  s.block_rows = 256;
  s.bands_min = 2;
  s.sigma_sys = 0.0;
  add_job_options(cmd, s);
  add_catalog_options(cmd);
  add_distance_options(cmd);
  add_calibration_option(cmd);
  infer::ReferenceSettings r;
  // clang-format off
  cmd.options.add_options()
      ("model", po::value<std::string>()->default_value(""),
       "a checkpoint whose filters and training prior to use (the posterior the model approximates); without it "
       "the catalogue's filters and the [prior] options")
      ("samples", po::value<int>(&s.samples)->default_value(s.samples), "equal-weight draws stored per star (/samples)")
      ("no-samples", po::bool_switch(), "store summaries only")
      ("proposals", po::value<int>(&r.proposals)->default_value(r.proposals), "importance samples per adaptation round")
      ("max-rounds", po::value<int>(&r.max_rounds)->default_value(r.max_rounds), "adaptation rounds at most")
      ("target-ess", po::value<double>(&r.target_ess)->default_value(r.target_ess),
       "stop adapting once the ESS reaches this")
      ("min-ess", po::value<double>(&r.min_ess)->default_value(r.min_ess),
       "flag (bit 3) stars whose final ESS is below this")
      ("coarse-sigma", po::value<double>(&r.coarse_sigma)->default_value(r.coarse_sigma),
       "lattice-resolution term (mag) of the coarse stage (the proposal only; the weights are exact)")
      ("sigma-sys", po::value<double>(&s.sigma_sys)->default_value(s.sigma_sys, "0, or with --model its noise.sigma_sys"),
       "systematic error (mag) added in quadrature to every band's error in the likelihood")
      ("bands-min", po::value<int>(&s.bands_min)->default_value(s.bands_min),
       "fewest usable bands for a star to be fitted (>= 2)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string catalog_path = vm["catalog"].as<std::string>();
  const std::string model_path = vm["model"].as<std::string>();
  const std::string output = checked_output(vm);
  const std::string export_path = checked_export_path(vm);
  const auto lock = distributed::lock_output(output, ctx.comm);  // held to the end: one run per output
  const int threads = apply_threads(vm["threads"].as<int>(), ctx.local_size);

  finish_fit_settings(vm, threads, r, s);
  const simulate::DistanceSettings distance = distance_settings_from(vm);

  auto registry = load_registry(vm);
  const CatalogOptions copt = constraint_catalog_options(vm, distance);
  auto catalog = CatalogReader::open(catalog_path, known_of(registry), copt);
  auto grid = load_grid(vm);
  std::vector<std::string> filters;
  simulate::PriorConfig prior_config;
  simulate::NoiseModel trained_noise;
  if (!model_path.empty()) {
    const auto checkpoint = model::load_checkpoint_info(model_path);
    filters = checkpoint.filters;
    prior_config = training_prior(checkpoint, model_path, *grid);
    // The training observation model: its error minimum and systematic term, as the
    // network (and `sample --importance`) use them.
    trained_noise = simulate::NoiseModel::from_items(checkpoint.noise, fmt::format("checkpoint '{}'", model_path));
    use_training_noise(trained_noise, vm, s);
    if (!vm["prior.logg_min"].defaulted()) log::warn("fit: --model given: the [prior] options are ignored");
  } else {
    filters = catalog.filters();
    prior_config = prior_from(vm);
  }
  s.physical = catalog.has_constraint(kParallax);
  if (s.physical) s.parallax_zero_point_text = vm["parallax-zero-point"].as<std::string>();
  apply_calibration(vm, registry, filters, catalog, s, model_path.empty() ? nullptr : &trained_noise);
  simulate::Synthesizer synth(grid, registry, filters);
  const simulate::Prior prior = make_prior(prior_config, *grid, vm);
  if (prior.isochrone() && !s.physical) {
    log::warn(
        "fit: the isochrone prior without a parallax column: its volume density favours dwarfs, so giants of a "
        "magnitude-limited catalogue get too high a log g (docs/isochrone_prior.md)");
  }
  simulate::PhotometricPosterior target(synth, prior, distance);
  const double t0 = now_seconds();
  infer::ReferenceFitter fitter(target, r);
  log::info("fit: coarse lattice of {} boxes over the prior's support built in {:.1f} s", fitter.lattice_boxes(),
            now_seconds() - t0);
  infer::FitProcessor processor(fitter, s);

  infer::SampleJob job;
  job.output = output;
  job.model_path = model_path.empty() ? grid->source : model_path;
  job.model_filters = filters;
  job.ignore_unknown_filters = copt.ignore_unknown_columns;
  job.discard_unfinished = vm["overwrite"].as<bool>();
  std::string prior_text;
  for (const auto& [k, v] : prior.config().items()) prior_text += fmt::format("{}={} ", k, v);
  job.inputs_key =
      fmt::format("columns={} missing={} error_floor={} grid={} filters_config={} prior=[{}]{}{}",
                  vm["columns"].as<std::string>(), copt.missing_sentinel, copt.error_floor, grid->checksum,
                  registry.source(), prior_text, presets_key(vm, copt), constraints_key(catalog, distance));
  log::info("fit: {} stars, {} filters, {} rank(s) x {} thread(s), {} proposals x <= {} rounds -> {}", catalog.rows(),
            filters.size(), ctx.size, threads, r.proposals, r.max_rounds, output);
  auto report = infer::process_catalog(processor, catalog, job, s, /*with_ppc=*/false, ctx.comm, "fit");
  log_fit_report(report, processor.evaluations(), r.min_ess, ctx.size);
  if (report.interrupted) {
    log::info("fit: stopped before the end; rerun the same command to resume");
    return kExitInterrupted;
  }
  log::info("fit: wrote {}", output);
  if (!export_path.empty()) write_export(vm, output, export_path, command_line("fit", args), ctx);
  return 0;
}

namespace {

// CPU seconds used by this process (all threads): with the wall time it shows how
// much of the machine the benchmark actually got on a shared host.
double cpu_seconds_now() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);  // every thread, finished ones included
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

namespace {

// A block of `rows` stars, each observing `bands` distinct random filters of n_filters.
infer::StarBlock bench_star_block(std::uint64_t rows, int n_filters, int bands, std::uint64_t seed) {
  infer::StarBlock block;
  block.rows = rows;
  block.n_columns = n_filters;
  for (int f = 0; f < n_filters; ++f) block.column_filter.push_back(f);
  block.mag.assign(rows * n_filters, std::numeric_limits<float>::quiet_NaN());
  block.err = block.mag;
  std::vector<int> order(static_cast<std::size_t>(n_filters));
  for (std::uint64_t r = 0; r < rows; ++r) {
    Philox rng(seed, r);
    for (int f = 0; f < n_filters; ++f) order[static_cast<std::size_t>(f)] = f;
    for (int i = n_filters - 1; i > 0; --i) {
      std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(rng.uniform() * (i + 1))]);
    }
    for (int i = 0; i < bands; ++i) {
      const std::size_t o = r * n_filters + static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
      block.mag[o] = static_cast<float>(15.0 + rng.normal(0.0, 1.0));
      block.err[o] = static_cast<float>(0.005 + 0.1 * rng.uniform());
    }
  }
  return block;
}

// The best wall time of `repeat` runs over the block (after one warm-up batch) and its CPU time.
void time_sampler(infer::BlockProcessor& sampler, const infer::StarBlock& block, long long batch, int repeat,
                  double& best, double& best_cpu) {
  infer::BlockResult out;
  {  // warm-up: one batch
    infer::StarBlock warm = block;
    warm.rows = static_cast<std::uint64_t>(batch);
    warm.mag.resize(warm.rows * block.n_columns);
    warm.err.resize(warm.rows * block.n_columns);
    sampler.run(warm, out);
  }
  best = 1e300;
  best_cpu = 0.0;
  for (int r = 0; r < repeat; ++r) {
    const double t0 = now_seconds(), c0 = cpu_seconds_now();
    sampler.run(block, out);
    const double t = now_seconds() - t0;
    if (t < best) {
      best = t;
      best_cpu = cpu_seconds_now() - c0;
    }
  }
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
  add_precision_option(cmd, /*list=*/true);
  // clang-format off
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
  // clang-format on
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
  std::vector<std::string> modes = split_list(vm["parallel"].as<std::string>());
  for (const auto& mode : modes) {
    if (mode != "batches" && mode != "intra-op") {
      fail_input("--parallel: '{}' is not known; allowed: batches, intra-op", mode);
    }
  }
  const auto precisions = precisions_from(vm, "cpu", ctx.rank);
  std::vector<double> first_rate(modes.size() * batches.size(), 0.0);  // per (mode, batch): the first precision's
  for (std::size_t k = 0; k < modes.size() * batches.size() * precisions.size(); ++k) {
    const std::size_t cell = k % (modes.size() * batches.size());
    const auto precision = precisions[k / (modes.size() * batches.size())];
    const std::string& mode = modes[cell / batches.size()];
    const long long batch = batches[cell % batches.size()];
    infer::SamplerSettings s;
    s.precision = precision;
    s.workers = mode == "batches" ? threads : 1;
    s.samples = vm["samples"].as<int>();
    s.batch = batch;
    s.bands_min = 1;
    s.seed = seed;
    const auto sampler = infer::random_posterior_sampler(config, seed, s);
    // Whole batches, at least one per worker thread.
    const std::uint64_t rows =
        static_cast<std::uint64_t>(std::max<long long>((stars + batch - 1) / batch, s.workers) * batch);
    const infer::StarBlock block = bench_star_block(rows, config.n_filters, bands, seed);
    double best = 0.0, best_cpu = 0.0;
    time_sampler(*sampler, block, batch, repeat, best, best_cpu);
    if (first_rate[cell] == 0.0) first_rate[cell] = rows / best;
    if (ctx.rank == 0) {
      std::cout << fmt::format(
          "bench sample: parallel={} precision={} batch={} samples={} bands={} threads={} stars={} model=[{}] "
          "best_s={:.3f} cpu_s={:.3f} stars_per_s={:.1f} samples_per_s={:.0f} stars_per_cpu_s={:.1f}{}\n",
          mode, model::precision_name(precision), batch, s.samples, bands, threads, rows, config.describe(), best,
          best_cpu, rows / best, rows * s.samples / best, rows / std::max(best_cpu, 1e-9),
          vs_first_precision(precisions.size(), rows / best, first_rate[cell]));
    }
  }
  return 0;
}

}  // namespace irisml::cli
