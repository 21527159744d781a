#include "cli/common.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "io/hdf5.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"

namespace irisml::cli {

void add_grid_option(Command& command) {
  command.options.add_options()(
      "grid", po::value<std::string>()->default_value(""),
      "spectral grid: an HDF5 grid written by `irisml grid import`, or a CK04 FITS directory (default: "
      "<data-dir>/spectra/ck04models)");
}

std::shared_ptr<const sim::SpectralGrid> load_grid(const po::variables_map& vm) {
  std::string path = vm["grid"].as<std::string>();
  if (path.empty()) path = join_path(data_dir(vm), "spectra/ck04models");
  if (std::filesystem::is_directory(path)) {
    log::info("importing the CK04 grid from {} (use `irisml grid import` once to skip this)", path);
    return std::make_shared<const sim::SpectralGrid>(sim::import_ck04(path));
  }
  if (!file_exists(path)) fail_input("grid '{}' (from --grid) does not exist", path);
  if (!h5::is_hdf5(path)) fail_input("grid '{}' (from --grid) is neither an HDF5 grid nor a directory", path);
  return std::make_shared<const sim::SpectralGrid>(sim::load_grid(path));
}

sim::FilterRegistry load_registry(const po::variables_map& vm) {
  return sim::FilterRegistry::load(filters_config(vm), data_dir(vm));
}

void add_prior_options(Command& command) {
  sim::PriorConfig d;
  auto& o = command.options;
  o.add_options()
      ("prior.logg_min", po::value<double>()->default_value(d.logg_min), "log g prior lower bound")
      ("prior.logg_max", po::value<double>()->default_value(d.logg_max), "log g prior upper bound (beyond the grid: rejected and redrawn)")
      ("prior.mh_halo_fraction", po::value<double>()->default_value(d.mh_halo_fraction), "[M/H]: weight of the halo component")
      ("prior.mh_halo_mean", po::value<double>()->default_value(d.mh_halo_mean), "[M/H]: halo mean")
      ("prior.mh_halo_sigma", po::value<double>()->default_value(d.mh_halo_sigma), "[M/H]: halo sigma")
      ("prior.mh_disc_mean", po::value<double>()->default_value(d.mh_disc_mean), "[M/H]: disc mean")
      ("prior.mh_disc_sigma", po::value<double>()->default_value(d.mh_disc_sigma), "[M/H]: disc sigma")
      ("prior.av_offset", po::value<double>()->default_value(d.av_offset), "A_V = offset + Exponential(scale)")
      ("prior.av_scale", po::value<double>()->default_value(d.av_scale), "A_V exponential scale")
      ("prior.av_max", po::value<double>()->default_value(d.av_max), "A_V cap, 0 = none")
      ("prior.rv_mean", po::value<double>()->default_value(d.rv_mean), "R_V normal mean")
      ("prior.rv_sigma", po::value<double>()->default_value(d.rv_sigma), "R_V normal sigma")
      ("prior.rv_min", po::value<double>()->default_value(d.rv_min), "R_V truncation, lower")
      ("prior.rv_max", po::value<double>()->default_value(d.rv_max), "R_V truncation, upper");
}

sim::PriorConfig prior_from(const po::variables_map& vm) {
  sim::PriorConfig c;
  auto get = [&](const char* key) { return vm[std::string("prior.") + key].as<double>(); };
  c.logg_min = get("logg_min");
  c.logg_max = get("logg_max");
  c.mh_halo_fraction = get("mh_halo_fraction");
  c.mh_halo_mean = get("mh_halo_mean");
  c.mh_halo_sigma = get("mh_halo_sigma");
  c.mh_disc_mean = get("mh_disc_mean");
  c.mh_disc_sigma = get("mh_disc_sigma");
  c.av_offset = get("av_offset");
  c.av_scale = get("av_scale");
  c.av_max = get("av_max");
  c.rv_mean = get("rv_mean");
  c.rv_sigma = get("rv_sigma");
  c.rv_min = get("rv_min");
  c.rv_max = get("rv_max");
  c.validate();
  return c;
}

std::uint64_t positive_count(const po::variables_map& vm, const std::string& name) {
  auto v = vm[name].as<long long>();
  if (v <= 0) fail_input("--{} = {} must be a positive whole number", name, v);
  return static_cast<std::uint64_t>(v);
}

}  // namespace irisml::cli
