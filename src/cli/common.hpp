// Pieces several subcommands share: loading the grid and filter registry,
// building a synthesizer, and the prior's options.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "model/config.hpp"
#include "model/precision.hpp"
#include "simulate/noise.hpp"
#include "simulate/prior.hpp"

namespace irisml::simulate {
struct SpectralGrid;
class FilterRegistry;
}  // namespace irisml::simulate

namespace irisml::cli {

// --grid: a project HDF5 grid (from `irisml grid import`) or a CK04 FITS
// directory; empty = <data-dir>/spectra/ck04models.
void add_grid_option(Command& command);
std::shared_ptr<const simulate::SpectralGrid> load_grid(const po::variables_map& vm);

simulate::FilterRegistry load_registry(const po::variables_map& vm);

// prior.* options (INI section [prior]).
void add_prior_options(Command& command);
simulate::PriorConfig prior_from(const po::variables_map& vm);
// The prior of `config` on `grid`; under prior.kind = isochrone it reads the stellar
// tracks (--isochrones where the command has it, else the source tree's default).
simulate::Prior make_prior(const simulate::PriorConfig& config, const simulate::SpectralGrid& grid,
                           const po::variables_map& vm);

// model.* options ([model] section), shared by train and the benchmarks;
// n_filters comes from the data.
void add_model_options(Command& command);
model::ModelConfig model_config_from(const po::variables_map& vm);

// --threads for a rank: LibTorch's intra-op threads and OpenBLAS's pool both get
// `requested`, or with 0 the node's cores shared evenly by its `ranks_on_node` ranks
// (without this OpenBLAS sizes its pool to the whole node). Returns the count set.
int apply_threads(int requested, int ranks_on_node);

// noise.* options (INI section [noise]): the observation model of training and of
// `catalog make`; noise_from validates them unless told not to (for callers that
// override some values first and validate the result).
void add_noise_options(Command& command);
simulate::NoiseModel noise_from(const po::variables_map& vm, bool validate = true);

// --precision (model/precision.hpp). With `list`, a comma list (the benchmarks time
// each in the same run). precision_from resolves the request for `device` and logs, on
// rank 0, why a bf16 request falls back to fp32.
void add_precision_option(Command& command, bool list = false);
model::Precision precision_from(const po::variables_map& vm, const std::string& device, int rank);
std::vector<model::Precision> precisions_from(const po::variables_map& vm, const std::string& device, int rank);
// " vs_first_precision=1.97x" when a benchmark times more than one precision, else "".
std::string vs_first_precision(std::size_t precisions, double rate, double first_rate);

// Checks a positive count option, naming it in the error.
std::uint64_t positive_count(const po::variables_map& vm, const std::string& name);

}  // namespace irisml::cli
