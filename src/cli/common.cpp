#include "cli/common.hpp"

#include <algorithm>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "core/cpu_runtime.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"
#include "model/runtime.hpp"
#include "simulate/filters.hpp"
#include "simulate/grid.hpp"
#include "simulate/isochrones.hpp"
#include "simulate/noise.hpp"

#ifndef IRISML_SOURCE_DIR
#define IRISML_SOURCE_DIR "."
#endif

namespace irisml::cli {

void add_grid_option(Command& command) {
  // clang-format off
  command.options.add_options()(
      "grid", po::value<std::string>()->default_value(""),
      "spectral grid: an HDF5 grid written by `irisml grid import`, or a CK04 FITS directory (default: "
      "<data-dir>/spectra/ck04models)")(
      "isochrones", po::value<std::string>()->default_value(""),
      "stellar tracks for prior.kind = isochrone (docs/isochrone_prior.md; default: "
      "data/isochrones/mist_v1.1_tracks.csv.gz in the source tree)");
  // clang-format on
}

simulate::Prior make_prior(const simulate::PriorConfig& config, const simulate::SpectralGrid& grid,
                           const po::variables_map& vm) {
  if (!config.isochrone()) return simulate::Prior(config, grid);
  std::string path = vm.count("isochrones") ? vm["isochrones"].as<std::string>() : std::string();
  const bool given = !path.empty();
  if (!given) path = std::string(IRISML_SOURCE_DIR) + "/data/isochrones/mist_v1.1_tracks.csv.gz";
  if (!file_exists(path)) {
    fail_input("stellar tracks '{}' ({}) do not exist; prior.kind = isochrone needs them", path,
               given ? "from --isochrones" : "the default in the source tree; give --isochrones");
  }
  const double t0 = now_seconds();
  const auto tracks = simulate::StellarTracks::load(path);
  simulate::Prior prior(config, grid, &tracks);
  log::info("prior: isochrone, {} tracks ({} points) from {}, lattice built in {:.2f} s", tracks.tracks.size(),
            tracks.rows, path, now_seconds() - t0);
  return prior;
}

std::shared_ptr<const simulate::SpectralGrid> load_grid(const po::variables_map& vm) {
  std::string path = vm["grid"].as<std::string>();
  if (path.empty()) path = join_path(data_dir(vm), "spectra/ck04models");
  if (std::filesystem::is_directory(path)) {
    log::info("importing the CK04 grid from {} (use `irisml grid import` once to skip this)", path);
    return std::make_shared<const simulate::SpectralGrid>(simulate::import_ck04(path));
  }
  if (!file_exists(path)) fail_input("grid '{}' (from --grid) does not exist", path);
  if (!h5::is_hdf5(path)) fail_input("grid '{}' (from --grid) is neither an HDF5 grid nor a directory", path);
  return std::make_shared<const simulate::SpectralGrid>(simulate::load_grid(path));
}

simulate::FilterRegistry load_registry(const po::variables_map& vm) {
  return simulate::FilterRegistry::load(filters_config(vm), data_dir(vm));
}

void add_prior_options(Command& command) {
  simulate::PriorConfig d;
  auto& o = command.options;
  // clang-format off
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
      ("prior.rv_max", po::value<double>()->default_value(d.rv_max), "R_V truncation, upper")
      ("prior.kind", po::value<std::string>()->default_value("flat"),
       "flat: log g and log10 Teff uniform over the grid; isochrone: (Teff, log g) from stellar tracks at each "
       "[M/H] (an IMF, constant star formation), mixed with the flat density (docs/isochrone_prior.md)")
      ("prior.isochrone_flat_fraction", po::value<double>()->default_value(d.isochrone_flat_fraction),
       "isochrone: weight of the flat density in the mixture (keeps stars off the tracks possible)")
      ("prior.isochrone_age_min", po::value<double>()->default_value(d.isochrone_age_min), "isochrone: youngest age [Gyr]")
      ("prior.isochrone_age_max", po::value<double>()->default_value(d.isochrone_age_max), "isochrone: oldest age [Gyr]")
      ("prior.isochrone_smooth_log_teff", po::value<double>()->default_value(d.isochrone_smooth_log_teff),
       "isochrone: Gaussian smoothing of the track density in log10 Teff [dex]")
      ("prior.isochrone_smooth_logg", po::value<double>()->default_value(d.isochrone_smooth_logg),
       "isochrone: Gaussian smoothing of the track density in log g [dex]");
  // clang-format on
}

simulate::PriorConfig prior_from(const po::variables_map& vm) {
  simulate::PriorConfig c;
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
  const std::string kind = vm["prior.kind"].as<std::string>();
  if (kind != "flat" && kind != "isochrone") fail_input("--prior.kind = '{}' must be flat or isochrone", kind);
  c.kind = kind == "isochrone" ? 1.0 : 0.0;
  c.isochrone_flat_fraction = get("isochrone_flat_fraction");
  c.isochrone_age_min = get("isochrone_age_min");
  c.isochrone_age_max = get("isochrone_age_max");
  c.isochrone_smooth_log_teff = get("isochrone_smooth_log_teff");
  c.isochrone_smooth_logg = get("isochrone_smooth_logg");
  c.validate();
  return c;
}

// model.* options ([model] section); n_filters comes from the data.
void add_model_options(Command& cmd) {
  model::ModelConfig d;
  // clang-format off
  cmd.options.add_options()
      ("model.width", po::value<int>()->default_value(d.width), "token / context width M")
      ("model.layers", po::value<int>()->default_value(d.layers), "transformer layers L")
      ("model.ffn", po::value<int>()->default_value(d.ffn), "feed-forward width")
      ("model.heads", po::value<int>()->default_value(d.heads), "attention heads (must divide model.width)")
      ("model.dropout", po::value<double>()->default_value(d.dropout, fmt::format("{}", d.dropout)), "dropout probability in the encoder")
      ("model.flow_blocks", po::value<int>()->default_value(d.flow_blocks), "MADE blocks of the flow")
      ("model.made_hidden", po::value<std::string>()->default_value("256,256"), "hidden widths of each MADE, comma list")
      ("model.mixture_components", po::value<int>()->default_value(d.mixture_components),
       "Gaussian-mixture components of the flow's base distribution")
      ("model.activation", po::value<std::string>()->default_value(d.activation),
       "feed-forward activation of the encoder: relu | gelu");
  // clang-format on
}

model::ModelConfig model_config_from(const po::variables_map& vm) {
  model::ModelConfig c;
  c.width = vm["model.width"].as<int>();
  c.layers = vm["model.layers"].as<int>();
  c.ffn = vm["model.ffn"].as<int>();
  c.heads = vm["model.heads"].as<int>();
  c.dropout = vm["model.dropout"].as<double>();
  c.flow_blocks = vm["model.flow_blocks"].as<int>();
  c.mixture_components = vm["model.mixture_components"].as<int>();
  c.activation = vm["model.activation"].as<std::string>();
  c.made_hidden.clear();
  for (const auto& item : split_list(vm["model.made_hidden"].as<std::string>())) {
    try {
      std::size_t used = 0;
      int v = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument(item);
      c.made_hidden.push_back(v);
    } catch (const std::exception&) {
      fail_input("model.made_hidden = '{}': '{}' is not a whole number (expected e.g. 256,256)",
                 vm["model.made_hidden"].as<std::string>(), item);
    }
  }
  return c;
}

std::uint64_t positive_count(const po::variables_map& vm, const std::string& name) {
  auto v = vm[name].as<long long>();
  if (v <= 0) fail_input("--{} = {} must be a positive whole number", name, v);
  return static_cast<std::uint64_t>(v);
}

int apply_threads(int requested, int ranks_on_node) {
  int threads = requested;
  if (threads < 0) fail_input("--threads = {} must be >= 0 (0 = the node's cores shared by its ranks)", threads);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads == 0) {
    threads = std::max(1, cores / std::max(ranks_on_node, 1));
  } else if (threads > cores) {
    log::warn("--threads = {} is more than the {} cores of this node; using {}", threads, cores, cores);
    threads = cores;
  }
  model::set_cpu_threads(threads);
  set_blas_threads(threads);
  if (const auto advice = blas_kernel_advice(); !advice.empty()) log::info("note: {}", advice);
  return threads;
}

void add_noise_options(Command& cmd) {
  simulate::NoiseModel d;
  // clang-format off
  cmd.options.add_options()
      ("noise.bands_min", po::value<int>()->default_value(d.bands_min), "fewest bands a training star keeps")
      ("noise.bands_max", po::value<int>()->default_value(d.bands_max), "most bands (0 = all the model's filters)")
      ("noise.sigma_distribution", po::value<std::string>()->default_value(d.sigma_distribution),
       "per-band error distribution: loguniform | uniform on [sigma_min, sigma_max]")
      ("noise.sigma_min", po::value<double>()->default_value(d.sigma_min, fmt::format("{}", d.sigma_min)), "smallest per-band error [mag]")
      ("noise.sigma_max", po::value<double>()->default_value(d.sigma_max, fmt::format("{}", d.sigma_max)), "largest per-band error [mag]")
      ("noise.sigma_floor", po::value<double>()->default_value(d.sigma_floor, fmt::format("{}", d.sigma_floor)), "lower bound applied to each error [mag]")
      ("noise.sigma_sys", po::value<double>()->default_value(d.sigma_sys, fmt::format("{}", d.sigma_sys)),
       "systematic error of every band [mag], in quadrature: in the noise drawn and in the error the network sees "
       "(quoted catalogue errors leave it out)");
  // clang-format on
  for (const auto& t : simulate::noise_token_settings()) {
    const double value = d.*(t.member);
    cmd.options.add_options()(t.key, po::value<double>()->default_value(value, fmt::format("{}", value)), t.help);
  }
}

simulate::NoiseModel noise_from(const po::variables_map& vm, bool validate) {
  simulate::NoiseModel n;
  n.bands_min = vm["noise.bands_min"].as<int>();
  n.bands_max = vm["noise.bands_max"].as<int>();
  n.sigma_distribution = vm["noise.sigma_distribution"].as<std::string>();
  n.sigma_min = vm["noise.sigma_min"].as<double>();
  n.sigma_max = vm["noise.sigma_max"].as<double>();
  n.sigma_floor = vm["noise.sigma_floor"].as<double>();
  n.sigma_sys = vm["noise.sigma_sys"].as<double>();
  for (const auto& t : simulate::noise_token_settings()) n.*(t.member) = vm[t.key].as<double>();
  if (validate) n.validate();
  return n;
}

void add_precision_option(Command& command, bool list) {
  command.options.add_options()(
      "precision", po::value<std::string>()->default_value("fp32"),
      list ? "precisions to time, comma list: fp32 | bf16 (bf16: the encoder's matrix products in bfloat16, "
             "everything else fp32; fp32 where the CPU lacks AVX512_BF16/AMX)"
           : "fp32 | bf16 (bf16: the encoder's matrix products in bfloat16, weights, flow, loss and optimizer fp32; "
             "falls back to fp32, logged, on a CPU without AVX512_BF16/AMX)");
}

namespace {
model::Precision resolve_logged(const std::string& text, const std::string& device, int rank) {
  const auto resolved = model::resolve_precision(model::parse_precision(text, "--precision"), device);
  if (!resolved.note.empty() && rank == 0) log::warn("{}", resolved.note);
  return resolved.precision;
}
}  // namespace

std::vector<model::Precision> precisions_from(const po::variables_map& vm, const std::string& device, int rank) {
  std::vector<model::Precision> out;
  for (const auto& item : split_list(vm["precision"].as<std::string>()))
    out.push_back(resolve_logged(item, device, rank));
  if (out.empty()) fail_input("--precision is empty; allowed: fp32, bf16");
  return out;
}

std::string vs_first_precision(std::size_t precisions, double rate, double first_rate) {
  return precisions > 1 ? fmt::format(" vs_first_precision={:.2f}x", rate / first_rate) : std::string();
}

model::Precision precision_from(const po::variables_map& vm, const std::string& device, int rank) {
  return resolve_logged(vm["precision"].as<std::string>(), device, rank);
}

}  // namespace irisml::cli
