// catalog make, evaluate.
#include <fmt/ranges.h>

#include <iostream>

#include "cli/catalog_options.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "distributed/collectives.hpp"
#include "distributed/environment.hpp"
#include "simulate/catalog_make.hpp"
#include "validate/evaluate.hpp"
#include "validate/manifest.hpp"
#include "validate/report.hpp"
#include "io/hdf5.hpp"
#include "simulate/filters.hpp"

#ifndef IRISML_VERSION
#define IRISML_VERSION "dev"
#endif

namespace irisml::cli {

namespace {

// Waits for rank 0's serial work; the error (if any) was thrown on rank 0 and
// main() aborts the job, so the other ranks never wait forever.
void wait_for_rank0(const Context& ctx) { distributed::barrier(ctx.comm); }

}  // namespace

int run_catalog_make(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("catalog make",
              "Turn a simulated set into a realistic catalogue: random band subsets, per-band errors, noisy "
              "magnitudes, unobserved bands as NaN, true parameters kept as labels. Runs on rank 0 alone (serial); "
              "other ranks wait.",
              "irisml catalog make --from test.h5 --output cat.h5 [--seed S] [--bands-min k] [--bands-max K] "
              "[--sigma-min a --sigma-max b --sigma-distribution loguniform|uniform] [--filters LIST] [--stars N] "
              "[--survey gaia|gaia-2mass-wise|ps1-gaia-2mass|sdss-galex [--error-scale F]] [--overwrite]",
              {"catalog", "noise"});
  add_common_options(cmd);
  add_noise_options(cmd);  // [noise]: the training observation model, by default
  // Bound to the options' fields where they need no conversion; their defaults are the struct's.
  simulate::CatalogMakeOptions options;
  // clang-format off
  cmd.options.add_options()
      ("from", po::value<std::string>(&options.from)->required(),
       "simulated set (training-set HDF5 from `irisml simulate`)")
      ("output", po::value<std::string>(&options.output)->required(), "catalogue HDF5 to write (docs/catalog_format.md)")
      ("seed", po::value<long long>()->default_value(static_cast<long long>(options.seed)),
       "random seed; star i draws from Philox keyed (mix(seed), i)")
      ("bands-min", po::value<int>(), "fewest observed bands per star (default: noise.bands_min)")
      ("bands-max", po::value<int>(), "most observed bands per star, 0 = all filters (default: noise.bands_max)")
      ("sigma-distribution", po::value<std::string>(),
       "per-band error distribution, loguniform or uniform (default: noise.sigma_distribution)")
      ("sigma-min", po::value<double>(), "smallest error [mag] (default: noise.sigma_min)")
      ("sigma-max", po::value<double>(), "largest error [mag] (default: noise.sigma_max)")
      ("sigma-floor", po::value<double>(), "lower bound on each drawn error [mag] (default: noise.sigma_floor)")
      ("filters", po::value<std::string>()->default_value(""),
       "keep only these filters (comma list or registry set name; default: all filters of the set)")
      ("survey", po::value<std::string>(&options.survey)->default_value(options.survey),
       "observe as a real survey combination instead of the noise model: gaia | gaia-2mass-wise | ps1-gaia-2mass | "
       "sdss-galex (its bands, errors growing with magnitude, bright and faint limits; noise.sigma_sys still "
       "applies; docs/catalog_format.md)")
      ("error-scale", po::value<double>(&options.error_scale)->default_value(options.error_scale),
       "with --survey: quoted errors are the true ones divided by this (> 1 under-reports them)")
      ("stars", po::value<long long>()->default_value(static_cast<long long>(options.stars)),
       "use the first N stars (0 = all)")
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(options.block_rows)),
       "stars per read/write block (bounds memory)")
      ("overwrite", po::bool_switch(&options.overwrite), "replace an existing output");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;

  if (options.survey.empty() && !vm["error-scale"].defaulted()) fail_input("--error-scale needs --survey");
  long long seed = vm["seed"].as<long long>();
  if (seed < 0) fail_input("--seed = {} must be >= 0", seed);
  options.seed = static_cast<std::uint64_t>(seed);
  // The [noise] section (or noise.* options), then the short options where given.
  simulate::NoiseModel& n = options.noise;
  n = noise_from(vm, /*validate=*/false);
  if (vm.count("bands-min")) n.bands_min = vm["bands-min"].as<int>();
  if (vm.count("bands-max")) n.bands_max = vm["bands-max"].as<int>();
  if (vm.count("sigma-distribution")) n.sigma_distribution = vm["sigma-distribution"].as<std::string>();
  if (vm.count("sigma-min")) n.sigma_min = vm["sigma-min"].as<double>();
  if (vm.count("sigma-max")) n.sigma_max = vm["sigma-max"].as<double>();
  if (vm.count("sigma-floor")) n.sigma_floor = vm["sigma-floor"].as<double>();
  try {
    options.noise.validate();
  } catch (const InputError& e) {  // name the command-line spelling too
    throw InputError(fmt::format("{} (options --bands-min, --bands-max, --sigma-* or the [noise] section)", e.what()));
  }
  long long stars = vm["stars"].as<long long>();
  if (stars < 0) fail_input("--stars = {} must be >= 0 (0 = all)", stars);
  options.stars = static_cast<std::uint64_t>(stars);
  options.block_rows = positive_count(vm, "block-rows");
  check_output_against_inputs(vm, options.output);
  check_output_path(options.output, options.overwrite, "--output");
  const auto lock = distributed::lock_output(options.output, ctx.comm);  // held to the end: one run per output
  auto registry = load_registry(vm);
  const std::string filters = vm["filters"].as<std::string>();
  if (!filters.empty()) options.filters = registry.resolve(filters);

  if (ctx.rank == 0) {
    auto report = simulate::make_catalog(options, known_of(registry));
    log::info(
        "catalog make: {} stars, {} filters ({}), {:.1f} bands per star on average (min {}, max {}), seed {} -> "
        "{} in {:.2f} s",
        report.stars, report.filters.size(), fmt::join(report.filters, ","), report.mean_bands, report.min_bands,
        report.max_bands, options.seed, options.output, report.seconds);
  }
  wait_for_rank0(ctx);
  return 0;
}

int run_evaluate(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("evaluate",
              "Compare posteriors with the true parameters: bias, RMS, MAD (mean |error|), median |error|, HDI "
              "coverage at many levels, all also by number of bands; writes metrics.json and an HTML report with SVG "
              "figures, prints a summary table. Runs on rank 0 alone (serial); other ranks wait.",
              "irisml evaluate --posterior post.h5 --truth cat.h5 --report report/ [--overwrite]", {"evaluate"});
  add_common_options(cmd);
  validate::EvaluateOptions options;  // bound where no conversion is needed; defaults are its values
  // clang-format off
  cmd.options.add_options()
      ("posterior", po::value<std::string>(&options.posterior)->required(), "posterior file from `irisml sample` (docs/posterior_format.md)")
      ("truth", po::value<std::string>(&options.truth)->required(),
       "file with the true parameters, rows in the same order: a catalogue from `catalog make` (/true_parameters), a "
       "simulated set (/parameters), or a CSV/FITS catalogue with true_teff..true_rv columns")
      ("report", po::value<std::string>()->required(), "output directory (metrics.json, index.html)")
      ("variant", po::value<std::string>(&options.variant)->default_value(options.variant),
       "which summaries the report is for: flow (the sampler's) | importance (`sample --importance`); when the file "
       "holds both, the other's table is printed too and its metrics written as <variant>_metrics.json")
      ("reference", po::value<std::string>()->default_value(""),
       "an `irisml fit` file of the same catalogue: print and write (reference.json) the distance of the posteriors "
       "from the exact reference posterior")
      ("coverage-levels", po::value<int>(&options.coverage_levels)->default_value(options.coverage_levels), "number of HDI levels k/(n+1); 19 gives 5 %, 10 %, ..., 95 %")
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(options.block_rows)),
       "stars per /samples read (bounds memory)")
      ("overwrite", po::bool_switch(), "replace an existing report directory (only one holding metrics.json)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  if (options.variant != "flow" && options.variant != "importance") {
    fail_input("--variant = '{}' is not known; allowed: flow, importance", options.variant);
  }
  const std::string reference = vm["reference"].as<std::string>();
  if (options.coverage_levels < 1 || options.coverage_levels > 999) {
    fail_input("--coverage-levels = {} must be between 1 and 999", options.coverage_levels);
  }
  options.block_rows = positive_count(vm, "block-rows");
  const std::string report_dir = vm["report"].as<std::string>();
  const bool overwrite = vm["overwrite"].as<bool>();
  for (const auto& [flag, path] : {std::pair<const char*, std::string>{"--posterior", options.posterior},
                                   {"--truth", options.truth},
                                   {"--reference", reference}}) {
    if (!path.empty() && !file_exists(path)) fail_input("{} '{}' does not exist", flag, path);
  }
  validate::check_report_dir(report_dir, overwrite);

  if (ctx.rank == 0) {
    KnownFilters known;
    if (!h5::is_hdf5(options.truth)) known = known_of(load_registry(vm));
    auto result = validate::evaluate_files(options, known);
    validate::ReportInfo info;
    info.posterior = options.posterior;
    info.truth = options.truth;
    info.code_version = IRISML_VERSION;
    info.model = result.model;
    // the other variant, side by side, when the file has both
    std::vector<std::pair<std::string, std::string>> extra;
    std::vector<std::string> variants = {options.variant};
    const std::string other = options.variant == "flow" ? "importance" : "flow";
    if (other == "flow" || validate::has_importance(options.posterior)) variants.push_back(other);
    std::string other_table;
    if (variants.size() > 1) {
      validate::EvaluateOptions o = options;
      o.variant = other;
      const auto r = validate::evaluate_files(o, known);
      extra.emplace_back(other + "_metrics.json", validate::metrics_json(r, info));
      other_table = fmt::format("\n-- {} posteriors --\n{}", other, validate::summary_table(r));
    }
    std::string reference_text;
    if (!reference.empty()) {
      for (const auto& v : variants) {
        const auto m = validate::compare_with_reference(options.posterior, v, reference, options.block_rows);
        extra.emplace_back(v == "flow" ? "reference.json" : "reference_" + v + ".json", validate::reference_json(m));
        reference_text += "\n" + validate::reference_table(m, v);
      }
    }
    std::string dir = validate::write_report(result, info, report_dir, overwrite, extra);
    std::cout << fmt::format("-- {} posteriors --\n", options.variant);
    std::cout << validate::summary_table(result) << other_table << reference_text;
    std::cout << fmt::format("report: {}/index.html (metrics: {}/metrics.json)\n", dir, dir);
    std::cout.flush();
  }
  wait_for_rank0(ctx);
  return 0;
}

int run_manifest(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("manifest",
              "Check every output of a reprocessing run (jobs/reprocess.sh) and write its manifest: per input file the "
              "output, its status (ok | partial | failed | missing), stars, clean stars, counts of each flag, sampling "
              "wall time and attempts. Exits 1 unless every input is ok. Runs on rank 0 alone (serial).",
              "irisml manifest --plan OUT_DIR/plan.tsv --output OUT_DIR/manifest.tsv", {"manifest"});
  add_common_options(cmd);
  // clang-format off
  cmd.options.add_options()
      ("plan", po::value<std::string>()->required(), "the run's plan: 'input<TAB>output' per line (docs/reprocessing.md)")
      ("output", po::value<std::string>()->required(), "manifest TSV to write (replaced atomically)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string plan = vm["plan"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  check_output_against_inputs(vm, output);
  int code = 0;
  if (ctx.rank == 0) {
    const auto m = validate::build_manifest(plan);
    validate::write_manifest(m, output);
    std::cout << validate::manifest_summary(m) << fmt::format("manifest: {}\n", output);
    std::cout.flush();
    code = m.complete() ? 0 : 1;
  }
  wait_for_rank0(ctx);
  return code;
}

}  // namespace irisml::cli
