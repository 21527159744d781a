// export: summary tables (FITS, ECSV, CSV) of posterior files; --export of sample/fit.
#include <fmt/format.h>

#include <iostream>

#include "cli/catalog_options.hpp"
#include "cli/common.hpp"
#include "cli/export_options.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "distributed/collectives.hpp"
#include "infer/export.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"
#include "simulate/filters.hpp"

#ifndef IRISML_VERSION
#define IRISML_VERSION "dev"
#endif

namespace irisml::cli {

namespace {

// Catalogue positions for the table, read block by block from the command's --catalog;
// empty when it has no ra/dec. The row count (and the ids, when both files have them)
// must match the posterior file's.
void read_positions(const po::variables_map& vm, const std::string& posterior, std::vector<double>& ra,
                    std::vector<double>& dec) {
  const std::string path = vm["catalog"].as<std::string>();
  if (path.empty()) return;
  if (!file_exists(path)) fail_input("--catalog '{}' does not exist", path);
  const auto reader = CatalogReader::open(path, known_of(load_registry(vm)), catalog_options_from(vm));
  if (!reader.has_position()) {
    log::info("export: catalogue '{}' has no ra/dec columns; the table has no positions", path);
    return;
  }
  h5::File f = h5::File::open(posterior);
  const std::uint64_t rows = f.dims("flags").at(0);
  if (reader.rows() != rows) {
    fail_input("--catalog '{}' has {} rows but posterior file '{}' has {}: give the catalogue the posteriors came from",
               path, reader.rows(), posterior, rows);
  }
  const bool check_ids = reader.has_id() && f.exists("id");
  const std::uint64_t step = 16384;
  for (std::uint64_t row0 = 0; row0 < rows; row0 += step) {
    const std::uint64_t n = std::min(step, rows - row0);
    const auto block = reader.read(row0, n);
    ra.insert(ra.end(), block.ra.begin(), block.ra.end());
    dec.insert(dec.end(), block.dec.begin(), block.dec.end());
    if (!check_ids) continue;
    const auto ids = f.read_string_rows("id", row0, n);
    for (std::uint64_t i = 0; i < n; ++i) {
      if (ids[i] != block.id[i]) {
        fail_input("row {} of --catalog '{}' has id '{}' but posterior file '{}' has '{}': not the same catalogue",
                   row0 + i, path, block.id[i], posterior, ids[i]);
      }
    }
  }
}

}  // namespace

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
  infer::table_format_of(path);
  check_output_against_inputs(vm, path, "--export");
  check_outputs_not_inputs(path, "--export", {{vm["output"].as<std::string>(), "--output"}});
  check_output_path(path, vm["overwrite"].as<bool>(), "--export");
  return path;
}

void write_export(const po::variables_map& vm, const std::string& posterior, const std::string& output,
                  const std::string& command, const Context& ctx, std::uint64_t block_rows) {
  if (ctx.rank == 0) {
    infer::ExportOptions options;
    options.posterior = posterior;
    options.output = output;
    options.command = command;
    options.code_version = IRISML_VERSION;
    options.block_rows = block_rows;
    read_positions(vm, posterior, options.ra, options.dec);
    const auto result = infer::export_table(options);
    log::info("export: {} rows x {} columns -> {} ({})", result.rows, result.columns.size(), output,
              infer::to_string(result.format.format));
  }
  dist::barrier(ctx.comm);  // the table is on disk before any rank returns
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
      ("block-rows", po::value<long long>()->default_value(static_cast<long long>(infer::ExportOptions{}.block_rows)), "stars read and written at a time (bounds memory)")
      ("overwrite", po::bool_switch(), "replace an existing --output (only once the new table is complete)");
  // clang-format on
  po::variables_map vm;
  if (!parse(cmd, args, vm)) return 0;
  const std::string posterior = vm["posterior"].as<std::string>();
  const std::string output = vm["output"].as<std::string>();
  if (!file_exists(posterior)) fail_input("--posterior '{}' does not exist", posterior);
  if (!h5::is_hdf5(posterior))
    fail_input("--posterior '{}' is not an HDF5 file (a posterior file from sample/fit)", posterior);
  infer::table_format_of(output);
  check_output_against_inputs(vm, output);
  check_output_path(output, vm["overwrite"].as<bool>(), "--output");
  write_export(vm, posterior, output, command_line("export", args), ctx, positive_count(vm, "block-rows"));
  return 0;
}

}  // namespace irisml::cli
