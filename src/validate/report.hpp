// The evaluation report: metrics.json, a self-contained index.html with inline
// SVG figures (predicted vs true density per parameter, coverage curves,
// residuals vs band count), and the summary table printed by `irisml evaluate`.
#pragma once

#include <string>

#include "validate/evaluate.hpp"

namespace irisml::validate {

struct ReportInfo {
  std::string posterior;  // paths, shown in the report
  std::string truth;
  std::string model;
  std::string code_version;
};

// Fixed-width text table: one row per parameter (Teff also in dex) with N,
// bias, RMS, MAD, median |err| and the largest coverage deviation; then RMS
// and coverage deviation by band-count bin; then the star counts.
std::string summary_table(const EvaluationResult& result);

// metrics.json (schema in docs/posterior_format.md, "Evaluation report").
std::string metrics_json(const EvaluationResult& result, const ReportInfo& info);

// index.html: every figure an inline <svg>, no external resources.
std::string report_html(const EvaluationResult& result, const ReportInfo& info);

// Fails with InputError (naming `option`) if `dir` exists and overwrite is false, if it
// exists but is not a directory, or (with overwrite) if it holds anything but a previous
// report's index.html and *.json files — so --overwrite never deletes an unrelated
// folder; also if the parent directory is missing.
void check_report_dir(const std::string& dir, bool overwrite, const std::string& option = "--report");

// Writes each (file name, content) into "<dir>.partial/", then replaces `dir` with it
// (after check_report_dir). Returns the final directory path (without a trailing slash).
std::string write_report_files(const std::string& dir, bool overwrite,
                               const std::vector<std::pair<std::string, std::string>>& files,
                               const std::string& option = "--report");

// Writes metrics.json and index.html (and each (file name, content) of `extra`) into
// "<dir>.partial/", then replaces `dir` with it. Returns the final directory path
// (without a trailing slash).
std::string write_report(const EvaluationResult& result, const ReportInfo& info, const std::string& dir, bool overwrite,
                         const std::vector<std::pair<std::string, std::string>>& extra = {});

}  // namespace irisml::validate
