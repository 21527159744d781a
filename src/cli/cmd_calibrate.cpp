// calibrate: per-band zero-point offsets and systematic errors from real labelled stars.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "cli/catalog_options.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "infer/calibrate.hpp"
#include "io/catalog.hpp"
#include "io/text_lines.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/synthesizer.hpp"

namespace irisml::cli {

namespace {

struct Label {
  double teff = NAN, logg = NAN, mh = NAN, rv = NAN;
};

// id → labels from a CSV file with columns id, teff, logg, mh (and optionally rv); other
// columns are ignored, '#' lines are comments. Quoted fields are not supported.
std::map<std::string, Label> read_labels(const std::string& path) {
  TextLines lines(path);
  std::string line;
  std::vector<std::string> header;
  int line_no = 0;
  while (lines.next(line)) {
    ++line_no;
    if (!line.empty() && line[0] != '#') {
      header = split(line, ",", /*keep_empty=*/true);
      break;
    }
  }
  auto column = [&](const std::string& name, bool required) {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (lower(header[i]) == name) return static_cast<int>(i);
    if (required) fail_input("labels file '{}' has no '{}' column (it needs id, teff, logg, mh)", path, name);
    return -1;
  };
  const int c_id = column("id", true), c_teff = column("teff", true), c_logg = column("logg", true),
            c_mh = column("mh", true), c_rv = column("rv", false);
  std::map<std::string, Label> out;
  while (lines.next(line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    if (line.find('"') != std::string::npos) {
      fail_input("labels file '{}' line {}: quoted fields are not supported", path, line_no);
    }
    const auto f = split(line, ",", /*keep_empty=*/true);
    if (f.size() != header.size()) {
      fail_input("labels file '{}' line {}: {} fields, the header has {}", path, line_no, f.size(), header.size());
    }
    auto number = [&](int c) {
      if (c < 0 || f[static_cast<std::size_t>(c)].empty()) return NAN * 1.0;
      double v = NAN;
      if (!parse_number(f[static_cast<std::size_t>(c)], v)) {
        fail_input("labels file '{}' line {}: column '{}' = '{}' is not a number", path, line_no,
                   header[static_cast<std::size_t>(c)], f[static_cast<std::size_t>(c)]);
      }
      return v;
    };
    out[f[static_cast<std::size_t>(c_id)]] = {number(c_teff), number(c_logg), number(c_mh), number(c_rv)};
  }
  return out;
}

// The catalogue's stars that have labels, as the estimator takes them; `parity` keeps
// even (0) or odd (1) rows only, −1 all.
std::vector<infer::CalibrationStar> labelled_stars(const CatalogReader& catalog,
                                                   const std::map<std::string, Label>& labels, double rv, int parity,
                                                   int bands_min) {
  if (!catalog.has_id()) fail_input("catalogue '{}' has no id column to join the labels on", catalog.path());
  const CatalogBlock block = catalog.read(0, catalog.rows());
  const std::size_t F = catalog.filters().size();
  std::vector<infer::CalibrationStar> stars;
  for (std::size_t r = 0; r < block.rows; ++r) {
    if (parity >= 0 && static_cast<int>(r % 2) != parity) continue;
    const auto it = labels.find(block.id[r]);
    if (it == labels.end()) continue;
    const Label& l = it->second;
    if (!std::isfinite(l.teff) || !std::isfinite(l.logg) || !std::isfinite(l.mh)) continue;
    infer::CalibrationStar s;
    s.id = block.id[r];
    s.teff = l.teff;
    s.logg = l.logg;
    s.mh = l.mh;
    s.rv = std::isfinite(l.rv) ? l.rv : rv;
    for (std::size_t f = 0; f < F; ++f) {
      const float m = block.mag[r * F + f], e = block.err[r * F + f];
      if (!std::isfinite(m) || !(e > 0)) continue;
      s.bands.push_back(static_cast<int>(f));
      s.mag.push_back(m);
      s.err.push_back(e);
    }
    if (!block.constraints.empty()) {
      const double* c = block.constraints.data() + r * kConstraintCount;
      if (std::isfinite(c[kAvMax])) s.av_max = c[kAvMax];
      s.av_prior = c[kAvPrior];
      s.av_prior_err = c[kAvPriorErr];
    }
    if (static_cast<int>(s.bands.size()) >= bands_min) stars.push_back(std::move(s));
  }
  return stars;
}

// Goodness of fit of stars at a calibration: fraction with p < 0.01 and < 0.05, mean χ²/dof.
std::string fit_summary(const std::vector<infer::CalibrationStarFit>& fits) {
  int n = 0, p01 = 0, p05 = 0;
  double chi = 0.0;
  for (const auto& f : fits) {
    if (!(f.dof > 0) || !std::isfinite(f.p)) continue;
    ++n;
    p01 += f.p < 0.01;
    p05 += f.p < 0.05;
    chi += f.chi2 / f.dof;
  }
  return fmt::format("{} stars, p < 0.01: {:.3f}, p < 0.05: {:.3f}, mean chi2/dof {:.2f}", n,
                     n ? static_cast<double>(p01) / n : NAN, n ? static_cast<double>(p05) / n : NAN, n ? chi / n : NAN);
}

}  // namespace

int run_calibrate(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("calibrate",
              "Per-band zero-point offsets and systematic errors from real stars with known Teff, log g and [M/H] "
              "(maximum marginal likelihood: per star its distance offset and A_V, per band offset and sigma_sys; "
              "bootstrap errors), written as a calibration file for `fit --calibration` and `sample "
              "--calibration` (docs/observation_model.md). --holdout even|odd calibrates on the other half of the "
              "rows and reports how the held-out stars fit.",
              "irisml calibrate --catalog stars.csv --labels labels.csv --output calibration.ini [--grid G] "
              "[--holdout even|odd] [--bootstrap 50] [--rv 3.1] [--columns ...] [--overwrite]",
              {"calibrate"});
  add_common_options(cmd);
  add_grid_option(cmd);
  add_catalog_options(cmd);
  infer::CalibrateSettings settings;  // bound where no conversion is needed; defaults are its values
  // clang-format off
  cmd.options.add_options()
      ("catalog", po::value<std::string>()->required(), "catalogue of the stars (docs/catalog_format.md); its av_max "
       "and av_prior columns bound A_V per star")
      ("labels", po::value<std::string>()->required(), "CSV of labels joined on id: columns id, teff, logg, mh "
       "(and optionally rv); other columns are ignored")
      ("output", po::value<std::string>()->required(), "calibration file to write (INI)")
      ("holdout", po::value<std::string>()->default_value("none"),
       "none | even | odd: calibrate on the other rows and report the held-out stars' fit")
      ("rv", po::value<double>()->default_value(3.1), "R_V of every star (unless the labels give one)")
      ("bands-min", po::value<int>()->default_value(3), "fewest usable bands for a star to be used (>= 2)")
      ("bootstrap", po::value<int>(&settings.bootstrap)->default_value(settings.bootstrap),
       "bootstrap resamples of the stars for the errors")
      ("max-iterations", po::value<int>(&settings.max_iterations)->default_value(settings.max_iterations),
       "alternations at most")
      ("seed", po::value<long long>()->default_value(1), "seed of the bootstrap")
      ("overwrite", po::bool_switch(), "replace an existing --output");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string output = vm["output"].as<std::string>();
  check_output_against_inputs(vm, output);
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  const std::string holdout = vm["holdout"].as<std::string>();
  if (holdout != "none" && holdout != "even" && holdout != "odd") {
    fail_input("--holdout = '{}' is not known; allowed: none, even, odd", holdout);
  }
  const int bands_min = vm["bands-min"].as<int>();
  if (bands_min < 2) fail_input("--bands-min = {} must be at least 2", bands_min);
  const double rv = vm["rv"].as<double>();
  if (!(rv >= 2.0 && rv <= 6.0)) fail_input("--rv = {} must be in [2, 6]", rv);
  settings.seed = static_cast<std::uint64_t>(std::max(0LL, vm["seed"].as<long long>()));
  settings.validate();

  auto registry = load_registry(vm);
  const CatalogOptions copt = catalog_options_from(vm);
  auto catalog = CatalogReader::open(vm["catalog"].as<std::string>(), known_of(registry), copt);
  const auto labels = read_labels(vm["labels"].as<std::string>());
  const int train_parity = holdout == "even" ? 1 : holdout == "odd" ? 0 : -1;
  const auto stars = labelled_stars(catalog, labels, rv, train_parity, bands_min);
  auto grid = load_grid(vm);
  simulate::Synthesizer synth(grid, registry, catalog.filters());
  log::info("calibrate: {} labelled stars with >= {} bands ({} filters){}", stars.size(), bands_min,
            catalog.filters().size(), holdout == "none" ? "" : fmt::format(", held-out rows: {}", holdout));
  const auto result = infer::calibrate(synth, stars, settings);
  if (!result.converged) {
    log::warn("calibrate: not converged after {} iterations (the last values are written)", result.iterations);
  }
  int outside = 0;
  for (const auto& s : result.stars) outside += !s.inside_grid;
  if (ctx.rank == 0) {
    std::cout << fmt::format("{:<12} {:>6} {:>9} {:>9} {:>10} {:>9}\n", "band", "stars", "offset", "+-", "sigma_sys",
                             "+-");
    for (const auto& [band, c] : result.calibration.bands()) {
      std::cout << fmt::format("{:<12} {:>6} {:>9.4f} {:>9.4f} {:>10.4f} {:>9.4f}\n", band, c.stars, c.offset,
                               c.offset_err, c.sigma_sys, c.sigma_sys_err);
    }
  }
  const std::size_t F = synth.bands().size();
  std::vector<double> offset(F, 0.0), sigma(F, 0.0), zero(F, 0.0), floor01(F, 0.01);
  for (std::size_t f = 0; f < F; ++f) {
    if (const auto* c = result.calibration.find(synth.bands()[f])) {
      offset[f] = c->offset;
      sigma[f] = c->sigma_sys;
    }
  }
  log::info("calibrate: {} iterations; calibration stars at their labels: {} ({} outside the grid)", result.iterations,
            fit_summary(result.stars), outside);
  if (holdout != "none") {
    const auto held = labelled_stars(catalog, labels, rv, train_parity == 0 ? 1 : 0, bands_min);
    log::info("calibrate: held-out stars, quoted errors only: {}",
              fit_summary(infer::fit_stars(synth, held, zero, zero)));
    log::info("calibrate: held-out stars, quoted errors + 0.01 mag: {}",
              fit_summary(infer::fit_stars(synth, held, zero, floor01)));
    log::info("calibrate: held-out stars, with this calibration: {}",
              fit_summary(infer::fit_stars(synth, held, offset, sigma)));
  }
  if (ctx.rank == 0) {
    result.calibration.save(
        output, {{"method", "maximum marginal likelihood at the labels (irisml calibrate; docs/observation_model.md)"},
                 {"catalog", catalog.path()},
                 {"labels", vm["labels"].as<std::string>()},
                 {"grid", grid->checksum},
                 {"stars", fmt::format("{}", stars.size() - static_cast<std::size_t>(outside))},
                 {"holdout", holdout},
                 {"rv", fmt::format("{}", rv)},
                 {"bootstrap", fmt::format("{}", settings.bootstrap)},
                 {"offsets", "mean over the bands fixed at 0"}});
    log::info("calibrate: wrote {}", output);
  }
  return 0;
}

}  // namespace irisml::cli
