// grid import, photometry, simulate, simulate add-filters, bench simulate.
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <iostream>

#include <unistd.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "distributed/collectives.hpp"
#include "distributed/environment.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/photometry.hpp"
#include "simulate/simulator.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::cli {

int run_grid_import(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd{"grid import",
              "Convert a model-atmosphere collection into the project's HDF5 grid format.",
              "irisml grid import --format ck04|table --input PATH --output GRID.h5 [--overwrite]",
              {"grid"}};
  add_common_options(cmd);
  // clang-format off
  cmd.options.add_options()
      ("format", po::value<std::string>()->default_value("ck04"),
       "ck04: the STScI CDBS ck04models FITS directory; table: the plain HDF5 layout of docs/grid_format.md (BOSZ or any library)")
      ("input", po::value<std::string>()->default_value(""), "input directory or file (ck04 default: <data-dir>/spectra/ck04models)")
      ("output", po::value<std::string>()->required(), "output HDF5 grid")
      ("overwrite", po::bool_switch(), "replace an existing output");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string output = vm["output"].as<std::string>();
  check_output_against_inputs(vm, output);
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  const auto lock = distributed::lock_output(output, ctx.comm);  // held to the end: one run per output
  std::string format = vm["format"].as<std::string>();
  std::string input = vm["input"].as<std::string>();
  simulate::SpectralGrid grid;
  if (format == "ck04") {
    if (input.empty()) input = join_path(data_dir(vm), "spectra/ck04models");
    grid = simulate::import_ck04(input);
  } else if (format == "table") {
    if (input.empty()) fail_input("--format table needs --input FILE");
    grid = simulate::import_table(input);
  } else {
    fail_input("--format '{}' is not known; allowed: ck04, table", format);
  }
  distributed::on_root_agreed([&] { simulate::save_grid(grid, output); }, ctx.comm,
                              fmt::format("writing '{}'", output));
  std::size_t valid = 0;
  for (auto v : grid.valid) valid += v;
  log::info("wrote {}: {} Teff x {} log g x {} [M/H], {} wavelengths, {} valid models, checksum {}", output,
            grid.teff.size(), grid.logg.size(), grid.mh.size(), grid.wavelength.size(), valid, grid.checksum);
  return 0;
}

int run_photometry(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd{"photometry",
              "Print the model magnitudes of one star (default 1 R_sun at 10 pc: absolute magnitudes).",
              "irisml photometry --teff T --logg G --mh M [--av A --rv R --radius Rsun --distance pc --filters LIST]",
              {"photometry"}};
  add_common_options(cmd);
  add_grid_option(cmd);
  // clang-format off
  cmd.options.add_options()
      ("teff", po::value<double>()->required(), "effective temperature [K]")
      ("logg", po::value<double>()->required(), "surface gravity log g [cgs]")
      ("mh", po::value<double>()->required(), "metallicity [M/H]")
      ("av", po::value<double>()->default_value(0.0), "V-band extinction A_V [mag]")
      ("rv", po::value<double>()->default_value(3.1), "R_V")
      ("radius", po::value<double>()->default_value(1.0), "stellar radius [R_sun]")
      ("distance", po::value<double>()->default_value(10.0), "distance [pc]")
      ("filters", po::value<std::string>()->default_value("paper"), "comma list of filters, or a set name: paper, all");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  double av = vm["av"].as<double>(), rv = vm["rv"].as<double>();
  double radius = vm["radius"].as<double>(), distance = vm["distance"].as<double>();
  if (!(av >= 0) || !std::isfinite(av)) fail_input("--av = {} must be a finite number >= 0", av);
  if (!(rv > 0) || !std::isfinite(rv)) fail_input("--rv = {} must be > 0", rv);
  if (!(radius > 0)) fail_input("--radius = {} must be > 0 (solar radii)", radius);
  if (!(distance > 0)) fail_input("--distance = {} must be > 0 (parsecs)", distance);
  auto registry = load_registry(vm);
  auto bands = registry.resolve(vm["filters"].as<std::string>());
  simulate::Synthesizer synth(load_grid(vm), registry, bands);
  simulate::StarParameters p{vm["teff"].as<double>(), vm["logg"].as<double>(), vm["mh"].as<double>(), av, rv};
  std::vector<double> mags(bands.size()), work;
  // dilution relative to the synthesizer's 1 R_sun at 10 pc
  double extra = simulate::dilution_mag(radius, distance) - simulate::dilution_mag(1.0, 10.0);
  if (!synth.magnitudes(p, mags.data(), work, extra)) {
    fail_input(
        "Teff={} logg={} [M/H]={} is outside the grid (not all 8 surrounding models exist); grid axes: Teff "
        "{}..{} K, log g {}..{}, [M/H] {}..{}",
        p.teff, p.logg, p.mh, synth.grid().teff.front(), synth.grid().teff.back(), synth.grid().logg.front(),
        synth.grid().logg.back(), synth.grid().mh.front(), synth.grid().mh.back());
  }
  if (ctx.rank == 0) {
    for (std::size_t b = 0; b < bands.size(); ++b) std::cout << fmt::format("{} {:.4f}\n", bands[b], mags[b]);
  }
  return 0;
}

namespace {
void add_simulate_options(Command& cmd) {
  add_common_options(cmd);
  add_grid_option(cmd);
  add_prior_options(cmd);
  const simulate::SimulationSpec d;
  // clang-format off
  cmd.options.add_options()
      ("output", po::value<std::string>()->required(), "output HDF5 training set")
      ("stars", po::value<long long>()->default_value(100000), "number of stars")
      ("seed", po::value<long long>()->default_value(1), "random seed (with the star index, keys every star's draws)")
      ("filters", po::value<std::string>()->default_value("standard"),
       "comma list of filters, or a set name: standard (the paper bands and Gaia DR2; no GALEX FUV, WISE W3/W4), "
       "paper (the published 25 bands), all")
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(d.block_rows)),
       "rows per collective write (bounds memory)")
      ("blend", po::value<std::string>()->default_value("log-flux"),
       "how the 8 surrounding grid spectra are combined: log-flux (ln F_lambda, the physics) or linear-flux (F_lambda, "
       "the blend before 2026-11-30, kept for comparisons: docs/interpolation.md)")
      ("overwrite", po::bool_switch(), "replace an existing output");
  // clang-format on
}

simulate::Blend blend_from(const po::variables_map& vm) {
  const std::string blend = vm["blend"].as<std::string>();
  for (auto b : {simulate::Blend::LogFlux, simulate::Blend::LinearFlux}) {
    if (blend == simulate::blend_name(b)) return b;
  }
  fail_input("--blend '{}' is not known; allowed: {}, {}", blend, simulate::blend_name(simulate::Blend::LogFlux),
             simulate::blend_name(simulate::Blend::LinearFlux));
}
}  // namespace

int run_simulate(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd{"simulate",
              "Simulate noise-free photometry of stars drawn from the prior into one HDF5 file.",
              "mpirun -np N irisml simulate --config configs/paper.ini --output train.h5 [--stars N] [--seed S] "
              "[--filters A,B,...] [--overwrite]",
              {"simulate", "prior"}};
  add_simulate_options(cmd);
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string output = vm["output"].as<std::string>();
  check_output_against_inputs(vm, output);
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  const auto lock = distributed::lock_output(output, ctx.comm);  // held to the end: one run per output
  simulate::SimulationSpec spec;
  spec.stars = positive_count(vm, "stars");
  long long seed = vm["seed"].as<long long>();
  if (seed < 0) fail_input("--seed = {} must be >= 0", seed);
  spec.seed = static_cast<std::uint64_t>(seed);
  spec.block_rows = positive_count(vm, "block-rows");
  spec.progress = !log::quiet();
  auto prior_config = prior_from(vm);
  auto registry = load_registry(vm);
  auto bands = registry.resolve(vm["filters"].as<std::string>());
  auto grid = load_grid(vm);
  simulate::Synthesizer synth(grid, registry, bands, blend_from(vm));
  const simulate::Prior prior = make_prior(prior_config, *grid, vm);
  log::info("simulate: {} stars, {} filters, seed {}, {} rank(s) -> {}", spec.stars, bands.size(), spec.seed, ctx.size,
            output);
  auto report = simulate::simulate(spec, prior, synth, output, ctx.comm);
  log::info(
      "simulate: wrote {} stars in {:.2f} s ({:.0f} stars/s); {} prior proposals fell outside the grid and were "
      "redrawn",
      report.stars, report.seconds, report.stars / std::max(report.seconds, 1e-9), report.rejected);
  return 0;
}

int run_add_filters(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd{"simulate add-filters",
              "Add magnitude columns for new filters to a training set, recomputed from its stored parameters.",
              "irisml simulate add-filters --input train.h5 --filters A,B [--output new.h5]",
              {"add-filters"}};
  add_common_options(cmd);
  add_grid_option(cmd);
  // clang-format off
  cmd.options.add_options()
      ("input", po::value<std::string>()->required(), "existing training set")
      ("filters", po::value<std::string>()->required(), "filters to add (comma list or set name)")
      ("output", po::value<std::string>()->default_value(""), "output file (default: replace the input on success)")
      ("overwrite", po::bool_switch(), "replace an existing --output");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string input = vm["input"].as<std::string>();
  std::string output = vm["output"].as<std::string>();
  if (!file_exists(input)) fail_input("--input '{}' does not exist", input);
  // the output may replace --input (that is the default), never another input
  check_outputs_not_inputs(output.empty() ? input : output, "--output",
                           {{vm["grid"].as<std::string>(), "--grid"},
                            {vm.count("config") ? vm["config"].as<std::string>() : "", "--config"},
                            {vm["filters-config"].as<std::string>(), "--filters-config"}});
  if (output.empty() || output == input) {
    output = input;
    check_output_path(output, true, "--output");
  } else {
    check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  }
  const auto lock = distributed::lock_output(output, ctx.comm);  // held to the end: one run per output
  auto registry = load_registry(vm);
  auto bands = registry.resolve(vm["filters"].as<std::string>());
  simulate::Synthesizer synth(load_grid(vm), registry, bands);
  auto report = simulate::add_filters(input, synth, output, ctx.comm, !log::quiet());
  log::info("add-filters: {} stars, added {} -> {} in {:.2f} s", report.stars, fmt::join(bands, ","), output,
            report.seconds);
  return 0;
}

int run_bench_simulate(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd{"bench simulate",
              "Measure simulator throughput (stars/s) with all ranks and with rank 0 alone, alternating, in one run; "
              "prints the best of --repeat runs of each and the scaling ratio.",
              "mpirun -np N irisml bench simulate [--stars N] [--filters paper] [--repeat 3]",
              {"bench"}};
  add_simulate_options(cmd);
  // clang-format off
  cmd.options.add_options()("repeat", po::value<int>()->default_value(3), "timed runs of each configuration");
  // clang-format on
  po::variables_map vm;
  std::vector<std::string> full = args;
  full.insert(full.end(), {"--output", "/tmp/irisml_bench_simulate.h5"});
  if (!parse(cmd, full, vm)) return 0;
  simulate::SimulationSpec spec;
  spec.stars = positive_count(vm, "stars");
  spec.seed = static_cast<std::uint64_t>(vm["seed"].as<long long>());
  spec.block_rows = positive_count(vm, "block-rows");
  spec.progress = false;
  int repeat = std::max(1, vm["repeat"].as<int>());
  auto registry = load_registry(vm);
  auto bands = registry.resolve(vm["filters"].defaulted() ? "paper" : vm["filters"].as<std::string>());
  auto grid = load_grid(vm);
  simulate::Synthesizer synth(grid, registry, bands, blend_from(vm));
  const simulate::Prior prior = make_prior(prior_from(vm), *grid, vm);
  // Each rank writes its own scratch file for the one-rank baseline.
  const std::string all_out = fmt::format("/tmp/irisml_bench_simulate_{}.h5", ctx.size);
  const std::string one_out = fmt::format("/tmp/irisml_bench_simulate_r0_{}.h5", ctx.size);
  double best_all = 1e300, best_one = 1e300;
  for (int r = 0; r < repeat; ++r) {
    best_all = std::min(best_all, simulate::simulate(spec, prior, synth, all_out, ctx.comm).seconds);
    if (ctx.size > 1) {
      if (ctx.rank == 0)
        best_one = std::min(best_one, simulate::simulate(spec, prior, synth, one_out, MPI_COMM_SELF).seconds);
      distributed::barrier(ctx.comm);  // the other ranks idle while rank 0 runs alone
    }
  }
  if (ctx.rank == 0) {
    double rate = spec.stars / best_all;
    std::cout << fmt::format("bench simulate: filters={} stars={} repeat={} (best run)\n", bands.size(), spec.stars,
                             repeat);
    std::cout << fmt::format("  ranks={}  seconds={:.3f}  stars_per_s={:.0f}  time_for_1.5M_stars={:.1f} s\n", ctx.size,
                             best_all, rate, 1.5e6 / rate);
    if (ctx.size > 1) {
      double one = spec.stars / best_one;
      std::cout << fmt::format("  ranks=1  seconds={:.3f}  stars_per_s={:.0f}  (rank 0 alone, same job)\n", best_one,
                               one);
      std::cout << fmt::format("  scaling 1->{} ranks: {:.2f}x\n", ctx.size, rate / one);
    }
    std::remove(all_out.c_str());
    std::remove(one_out.c_str());
  }
  return 0;
}

}  // namespace irisml::cli
