// export: summary tables (FITS, ECSV, CSV) of posterior files; --export of sample/fit;
// report: the HTML page of a catalogue without truth.
#include <fmt/format.h>

#include <iostream>

#include "cli/catalog_options.hpp"
#include "cli/common.hpp"
#include "cli/export_options.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "distributed/collectives.hpp"
#include "validate/catalog_report.hpp"
#include "validate/export.hpp"
#include "validate/report.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"
#include "simulate/filters.hpp"

#ifndef IRISML_VERSION
#define IRISML_VERSION "dev"
#endif

namespace irisml::cli {

CatalogExtras read_catalog_extras(const po::variables_map& vm, const std::string& posterior, bool magnitude) {
  CatalogExtras out;
  const std::string path = vm["catalog"].as<std::string>();
  if (path.empty()) return out;
  if (!file_exists(path)) fail_input("--catalog '{}' does not exist", path);
  const auto reader = CatalogReader::open(path, known_of(load_registry(vm)), catalog_options_from(vm));
  h5::File f = h5::File::open(posterior);
  const std::uint64_t rows = f.dims("flags").at(0);
  if (reader.rows() != rows) {
    fail_input("--catalog '{}' has {} rows but posterior file '{}' has {}: give the catalogue the posteriors came from",
               path, reader.rows(), posterior, rows);
  }
  const bool positions = reader.has_position();
  if (!positions) log::info("catalogue '{}' has no ra/dec columns: no positions", path);
  // The magnitude shown: Gaia G when the catalogue has it, else its first band.
  const auto& filters = reader.filters();
  std::size_t band = 0;
  for (std::size_t k = 0; k < filters.size(); ++k) {
    if (filters[k] == "Gaia_G") band = k;
  }
  magnitude = magnitude && !filters.empty();
  if (magnitude) out.band = filters[band];
  const bool check_ids = reader.has_id() && f.exists("id");
  const std::uint64_t step = 16384;
  for (std::uint64_t row0 = 0; row0 < rows; row0 += step) {
    const std::uint64_t n = std::min(step, rows - row0);
    const auto block = reader.read(row0, n);
    if (positions) {
      out.ra.insert(out.ra.end(), block.ra.begin(), block.ra.end());
      out.dec.insert(out.dec.end(), block.dec.begin(), block.dec.end());
    }
    for (std::uint64_t i = 0; magnitude && i < n; ++i) out.magnitude.push_back(block.mag[i * filters.size() + band]);
    if (!check_ids) continue;
    const auto ids = f.read_string_rows("id", row0, n);
    for (std::uint64_t i = 0; i < n; ++i) {
      if (ids[i] != block.id[i]) {
        fail_input("row {} of --catalog '{}' has id '{}' but posterior file '{}' has '{}': not the same catalogue",
                   row0 + i, path, block.id[i], posterior, ids[i]);
      }
    }
  }
  return out;
}

std::string command_line(const std::string& words, const std::vector<std::string>& args) {
  std::string out = "irisml " + words;
  for (const auto& a : args) {
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_=./,:+@%") == std::string::npos;
    if (plain) {
      out += " " + a;
      continue;
    }
    out += " '";
    for (char ch : a) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    out += "'";
  }
  return out;
}

void add_export_option(Command& cmd) {
  cmd.options.add_options()(
      "export", po::value<std::string>()->default_value(""),
      "also write a summary table of the posteriors when the output is complete: .fits, .ecsv[.gz] or .csv[.gz] "
      "(as `irisml export`; docs/export_format.md)");
}

std::string checked_export_path(const po::variables_map& vm) {
  const std::string path = vm["export"].as<std::string>();
  if (path.empty()) return path;
  validate::table_format_of(path);
  check_output_against_inputs(vm, path, "--export");
  check_outputs_not_inputs(path, "--export", {{vm["output"].as<std::string>(), "--output"}});
  check_output_path(path, vm["overwrite"].as<bool>(), "--export");
  return path;
}

void write_export(const po::variables_map& vm, const std::string& posterior, const std::string& output,
                  const std::string& command, const Context& ctx, std::uint64_t block_rows) {
  if (ctx.rank == 0) {
    validate::ExportOptions options;
    options.posterior = posterior;
    options.output = output;
    options.command = command;
    options.code_version = IRISML_VERSION;
    options.block_rows = block_rows;
    auto extras = read_catalog_extras(vm, posterior, false);
    options.ra = std::move(extras.ra);
    options.dec = std::move(extras.dec);
    const auto result = validate::export_table(options);
    log::info("export: {} rows x {} columns -> {} ({})", result.rows, result.columns.size(), output,
              validate::to_string(result.format.format));
  }
  distributed::barrier(ctx.comm);  // the table is on disk before any rank returns
}

int run_export(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("export",
              "Write a posterior file as one summary table that TOPCAT, astropy or pandas open directly: one row per "
              "star (id, ra/dec from --catalog, per parameter median, mean, std, p16/p84, HDI68/95 bounds, the "
              "importance-reweighted versions and ESS, distance, flags as an integer and as booleans, n_bands, PPC "
              "p-value), units and descriptions in the column metadata, provenance in the header. The format comes "
              "from the name. Runs on rank 0 alone (serial, block by block); other ranks wait.",
              "irisml export --posterior post.h5 --output summary.fits|.ecsv[.gz]|.csv[.gz] [--catalog cat.csv] "
              "[--overwrite]",
              {"export"});
  add_common_options(cmd);
  add_catalog_options(cmd);
  // clang-format off
  cmd.options.add_options()
      ("posterior", po::value<std::string>()->required(), "posterior file from `irisml sample` or `irisml fit`")
      ("output", po::value<std::string>()->required(),
       "table to write: .fits/.fit/.fts (FITS binary table), .ecsv (astropy ECSV 1.0) or .csv, the text formats "
       "optionally .gz")
      ("catalog", po::value<std::string>()->default_value(""),
       "the catalogue the posteriors came from (with the same column options): its ra/dec become columns; rows "
       "and ids must match")
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(validate::ExportOptions{}.block_rows)), "stars read and written at a time (bounds memory)")
      ("overwrite", po::bool_switch(), "replace an existing --output (only once the new table is complete)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string posterior = vm["posterior"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  if (!file_exists(posterior)) fail_input("--posterior '{}' does not exist", posterior);
  if (!h5::is_hdf5(posterior))
    fail_input("--posterior '{}' is not an HDF5 file (a posterior file from sample/fit)", posterior);
  validate::table_format_of(output);
  check_output_against_inputs(vm, output);
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  write_export(vm, posterior, output, command_line("export", args), ctx, positive_count(vm, "block-rows"));
  return 0;
}

int run_report(const std::vector<std::string>& args, const Context& ctx) {
  Command cmd("report",
              "A self-contained HTML page about the posteriors of a catalogue without true labels: the Kiel diagram "
              "coloured by [M/H], the A_V distribution and (with positions) its sky map, posterior widths against "
              "magnitude and band count, flag counts and their meaning, the importance ESS/S and the stars the flow "
              "cannot be trusted on, the posterior-predictive p-values and the worst-fitting stars; summary.json "
              "beside it. Runs on rank 0 alone (serial); other ranks wait.",
              "irisml report --posterior post.h5 [--catalog cat.csv] --output report/ [--variant flow|importance] "
              "[--overwrite]",
              {"report"});
  add_common_options(cmd);
  add_catalog_options(cmd);
  validate::CatalogReportOptions options;  // bound where no conversion is needed; defaults are its values
  // clang-format off
  cmd.options.add_options()
      ("posterior", po::value<std::string>(&options.posterior)->required(),
       "posterior file from `irisml sample` or `irisml fit`")
      ("output", po::value<std::string>()->required(), "directory to write (index.html, summary.json)")
      ("catalog", po::value<std::string>(&options.catalog)->default_value(options.catalog),
       "the catalogue the posteriors came from (with the same column options): ra/dec for the sky map, a magnitude "
       "(Gaia G, else its first band) for the widths; rows and ids must match")
      ("variant", po::value<std::string>(&options.variant)->default_value(options.variant),
       "summaries shown: flow (the sampler's, or the reference fit's) | importance; default importance when the "
       "file has it")
      ("worst", po::value<long long>()->default_value(static_cast<long long>(options.worst_rows)), "rows of the worst-fitting and lowest-ESS tables")
      ("overwrite", po::bool_switch(), "replace an existing report directory (only one holding a previous report)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  options.worst_rows = positive_count(vm, "worst");
  options.command = command_line("report", args);
  options.code_version = IRISML_VERSION;
  const std::string output = vm["output"].as<std::string>();
  const bool overwrite = vm["overwrite"].as<bool>();
  if (!file_exists(options.posterior)) fail_input("--posterior '{}' does not exist", options.posterior);
  if (!h5::is_hdf5(options.posterior)) {
    fail_input("--posterior '{}' is not an HDF5 file (a posterior file from sample/fit)", options.posterior);
  }
  if (!options.variant.empty() && options.variant != "flow" && options.variant != "importance") {
    fail_input("--variant = '{}' is not known; allowed: flow, importance", options.variant);
  }
  check_output_against_inputs(vm, output);
  validate::check_report_dir(output, overwrite, "--output");
  if (ctx.rank == 0) {
    auto extras = read_catalog_extras(vm, options.posterior, true);
    options.ra = std::move(extras.ra);
    options.dec = std::move(extras.dec);
    options.magnitude = std::move(extras.magnitude);
    options.magnitude_band = extras.band;
    const auto report = validate::build_catalog_report(options);
    const std::string dir = validate::write_report_files(
        output, overwrite, {{"index.html", report.html}, {"summary.json", report.summary_json}}, "--output");
    log::info("report: {} stars ({} with a posterior, {} summaries) -> {}/index.html", report.stars, report.summarised,
              report.variant, dir);
  }
  distributed::barrier(ctx.comm);
  return 0;
}

}  // namespace irisml::cli
