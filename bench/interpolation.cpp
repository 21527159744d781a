// Interpolation accuracy of the spectral grid: the leave-one-out check of
// src/simulate/interpolation_check.hpp for both blends (ln F_λ and F_λ), one
// table per axis, median and 95th percentile of |Δmag| per band. Prints
// Markdown (the tables of docs/interpolation.md).
//
//   build/bench/irisml_bench_interpolation [--grid GRID] [--data-dir DIR]
//       [--filters-config INI] [--bands Gaia_G,…] [--teff-min K] [--teff-max K]
//
// --grid: an HDF5 grid from `irisml grid import` or a CK04 FITS directory
// (default <data-dir>/spectra/ck04models). --teff-min/--teff-max restrict the
// nodes counted (all by default).
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/interpolation_check.hpp"
#include "simulate/photometry.hpp"

namespace {

using namespace irisml;

const char* kUsage =
    "usage: irisml_bench_interpolation [--grid GRID] [--data-dir DIR] [--filters-config INI] [--bands A,B,…] "
    "[--teff-min K] [--teff-max K]\n";

int run(int argc, char** argv) {
  std::string grid_path, data_dir_setting, ini = std::string(IRISML_SOURCE_DIR) + "/configs/filters.ini";
  std::string bands_list = "Gaia_G,Gaia_BP,Gaia_RP,SDSS_u,SDSS_g,SDSS_r,PS1_g,GALEX_NUV,2MASS_J,2MASS_Ks,WISE_W1";
  double teff_min = 0, teff_max = std::numeric_limits<double>::infinity();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) fail_input("option '{}' needs a value\n{}", a, kUsage);
    const std::string v = argv[++i];
    if (a == "--grid") {
      grid_path = v;
    } else if (a == "--data-dir") {
      data_dir_setting = v;
    } else if (a == "--filters-config") {
      ini = v;
    } else if (a == "--bands") {
      bands_list = v;
    } else if (a == "--teff-min") {
      teff_min = std::stod(v);
    } else if (a == "--teff-max") {
      teff_max = std::stod(v);
    } else {
      fail_input("unknown option '{}'\n{}", a, kUsage);
    }
  }
  const std::string data_dir = resolve_data_dir(data_dir_setting);
  if (grid_path.empty()) grid_path = join_path(data_dir, "spectra/ck04models");
  const auto t0 = std::chrono::steady_clock::now();
  const simulate::SpectralGrid grid =
      std::filesystem::is_directory(grid_path) ? simulate::import_ck04(grid_path) : simulate::load_grid(grid_path);
  const auto registry = simulate::FilterRegistry::load(ini, data_dir);
  const auto bands = registry.resolve(bands_list);
  const simulate::Photometry phot(grid.wavelength, registry, bands);

  std::printf("Leave-one-out interpolation check: grid %s (%zu models), %zu bands, nodes with %g <= Teff <= %g K\n",
              grid_path.c_str(), grid.n_valid(), bands.size(), teff_min, teff_max);
  std::printf("|Δmag| = |interpolated from the neighbours two nodes apart − the node's own model|, mag\n");
  for (simulate::GridAxis axis : {simulate::GridAxis::Teff, simulate::GridAxis::LogG, simulate::GridAxis::MH}) {
    const auto log = simulate::leave_one_out(grid, phot, axis, simulate::Blend::LogFlux);
    const auto lin = simulate::leave_one_out(grid, phot, axis, simulate::Blend::LinearFlux);
    std::printf("\n### Along %s (%zu nodes)\n\n", simulate::axis_name(axis), log.count(0, teff_min, teff_max));
    std::printf("| band | median, ln F | median, F | p95, ln F | p95, F |\n|---|---|---|---|---|\n");
    for (std::size_t b = 0; b < bands.size(); ++b) {
      std::printf("| %s | %.4f | %.4f | %.4f | %.4f |\n", bands[b].c_str(),
                  log.abs_quantile(b, 0.5, teff_min, teff_max), lin.abs_quantile(b, 0.5, teff_min, teff_max),
                  log.abs_quantile(b, 0.95, teff_min, teff_max), lin.abs_quantile(b, 0.95, teff_min, teff_max));
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n(%.1f s, grid import included)\n", seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "irisml_bench_interpolation: %s\n", e.what());
    return 2;
  }
}
