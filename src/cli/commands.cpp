#include "cli/commands.hpp"

namespace irisml::cli {

int run_grid_import(const std::vector<std::string>&, const Context&);
int run_photometry(const std::vector<std::string>&, const Context&);
int run_simulate(const std::vector<std::string>&, const Context&);
int run_add_filters(const std::vector<std::string>&, const Context&);
int run_bench_simulate(const std::vector<std::string>&, const Context&);
int run_train(const std::vector<std::string>&, const Context&);
int run_bench_train(const std::vector<std::string>&, const Context&);
int run_train_evaluate(const std::vector<std::string>&, const Context&);
int run_catalog_make(const std::vector<std::string>&, const Context&);
int run_evaluate(const std::vector<std::string>&, const Context&);
int run_manifest(const std::vector<std::string>&, const Context&);
int run_export(const std::vector<std::string>&, const Context&);
int run_report(const std::vector<std::string>&, const Context&);
int run_sample(const std::vector<std::string>&, const Context&);
int run_fit(const std::vector<std::string>&, const Context&);
int run_calibrate(const std::vector<std::string>&, const Context&);
int run_bench_sample(const std::vector<std::string>&, const Context&);

const std::vector<CommandEntry>& all_commands() {
  static const std::vector<CommandEntry> commands = {
      {{"grid", "import"},
       "convert a model-atmosphere collection (CK04 FITS, or a plain table) to an HDF5 grid",
       run_grid_import},
      {{"photometry"}, "print one star's model magnitudes", run_photometry},
      {{"simulate"}, "simulate a training set from the prior (MPI-parallel, one HDF5 file)", run_simulate},
      {{"simulate", "add-filters"}, "add columns for new filters to an existing training set", run_add_filters},
      {{"train"},
       "train the posterior estimator (data-parallel: MPI on CPUs, NCCL on GPUs; resumable)",
       run_train,
       true},
      {{"train", "evaluate"},
       "quality table of a trained model on a held-out simulated set (vs the training median)",
       run_train_evaluate},
      {{"catalog", "make"}, "turn a simulated set into a noisy catalogue with true labels", run_catalog_make},
      {{"sample"},
       "posterior samples, summaries and flags for a catalogue (MPI-parallel, resumable)",
       run_sample,
       true},
      {{"fit"},
       "the exact reference posterior of catalogue stars (prior x likelihood, importance sampling; slow)",
       run_fit,
       true},
      {{"calibrate"},
       "per-band zero-point offsets and systematic errors from real labelled stars (a calibration file)",
       run_calibrate},
      {{"evaluate"}, "metrics, HDI coverage and an HTML report of posteriors against truth", run_evaluate},
      {{"export"}, "summary table of a posterior file (FITS, ECSV or CSV) for TOPCAT, astropy or pandas", run_export},
      {{"report"},
       "HTML report of the posteriors of a catalogue without truth (Kiel diagram, A_V, widths, flags, ESS, PPC)",
       run_report},
      {{"manifest"},
       "check every output of a reprocessing run (jobs/reprocess.sh) and write its manifest",
       run_manifest},
      {{"bench", "simulate"}, "simulator throughput", run_bench_simulate},
      {{"bench", "train"}, "training-step throughput of the paper-size model", run_bench_train},
      {{"bench", "sample"}, "posterior-sampling throughput of the paper-size model", run_bench_sample},
  };
  return commands;
}

}  // namespace irisml::cli
