// The manifest of a whole-catalogue reprocessing run (jobs/reprocess.sh): one row per
// input file with what became of it, checked against the posterior files themselves.
//
// Inputs (written by the job scripts, docs/reprocessing.md):
//   plan      TSV, one "input<TAB>output" line per catalogue file ('#' lines ignored);
//   <output>.status  one "attempt<TAB>exit<TAB>wall_s<TAB>job<TAB>message" line per run of
//             `irisml sample` on that input (appended by the array task).
// An input is ok when its output is a complete posterior file (format attribute,
// /flags of one entry per star: the sampler only renames its partial file to the output
// name when every block is written); partial when <output>.progress is there (a run was
// interrupted and will resume); failed when its last attempt exited non-zero; missing
// when no attempt is recorded.
// No torch here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace irisml::validate {

struct ManifestRow {
  std::string input, output;
  std::string status;  // ok | partial | failed | missing
  std::uint64_t stars = 0;
  std::uint64_t clean = 0;  // stars with flags == 0
  // stars with each flag bit set, in kManifestFlagNames order
  std::array<std::uint64_t, 6> flagged{};
  double wall_s = 0;  // summed over attempts
  int attempts = 0;
  int last_exit = 0;
  std::string message;  // the last attempt's error line, or why the output is not valid
};

inline constexpr const char* kManifestFlagNames[6] = {
    "too_few_bands", "outside_training_range", "ppc_chi2", "low_ess", "nonfinite", "error_raised"};

struct Manifest {
  std::vector<ManifestRow> rows;
  std::uint64_t ok = 0, partial = 0, failed = 0, missing = 0, stars = 0;
  double wall_s = 0;
  bool complete() const { return ok == rows.size(); }
};

// Reads the plan and each input's status and output. Throws InputError for a bad plan.
Manifest build_manifest(const std::string& plan_path);

// The manifest as TSV (header line, then a row per input), written atomically.
void write_manifest(const Manifest& manifest, const std::string& path);

// One line per input that is not ok, and a totals line.
std::string manifest_summary(const Manifest& manifest);

}  // namespace irisml::validate
