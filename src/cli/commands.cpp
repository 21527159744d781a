#include "cli/commands.hpp"

namespace irisml::cli {

int run_grid_import(const std::vector<std::string>&, const Context&);
int run_photometry(const std::vector<std::string>&, const Context&);
int run_simulate(const std::vector<std::string>&, const Context&);
int run_add_filters(const std::vector<std::string>&, const Context&);
int run_bench_simulate(const std::vector<std::string>&, const Context&);

const std::vector<CommandEntry>& all_commands() {
  static const std::vector<CommandEntry> commands = {
      {{"grid", "import"}, "convert a model-atmosphere collection (CK04 FITS, or a plain table) to an HDF5 grid",
       run_grid_import},
      {{"photometry"}, "print one star's model magnitudes", run_photometry},
      {{"simulate"}, "simulate a training set from the prior (MPI-parallel, one HDF5 file)", run_simulate},
      {{"simulate", "add-filters"}, "add columns for new filters to an existing training set", run_add_filters},
      {{"bench", "simulate"}, "simulator throughput", run_bench_simulate},
  };
  return commands;
}

}  // namespace irisml::cli
