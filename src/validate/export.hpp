// `irisml export`: a posterior file (docs/posterior_format.md) as one summary table that
// TOPCAT, astropy or pandas open directly — FITS (cfitsio), ECSV 1.0 or CSV, the text
// formats optionally gzip-compressed. One row per star in catalogue order; the columns,
// their units and descriptions: docs/export_format.md.
//
// The table is read from the HDF5 file and written block by block (`block_rows` stars at
// a time), so memory is bounded by the block, not the catalogue. Serial: the caller runs
// it on one rank. Written under "<output>.partial" and renamed when complete.
//
// No torch here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace irisml::validate {

enum class TableFormat { Fits, Ecsv, Csv };
struct TableFormatChoice {
  TableFormat format = TableFormat::Fits;
  bool gzip = false;
};
// From the output name: .fits/.fit/.fts → FITS; .ecsv or .csv, each optionally .gz.
// InputError naming the path and the allowed endings otherwise (a .fits.gz too: cfitsio
// would build the whole file in memory; compress the .fits afterwards).
TableFormatChoice table_format_of(const std::string& path);
const char* to_string(TableFormat format);

// One column of the table.
struct ExportColumn {
  enum class Type { Float32, Float64, Int32, Bool, String };
  std::string name, unit, description;
  Type type = Type::Float32;
  std::string dataset;                   // posterior dataset it comes from ("" = the catalogue's ra/dec)
  std::uint64_t stride = 1, offset = 0;  // element offset + row * stride of the dataset
  std::uint32_t bit = 0;                 // Bool: this bit of the dataset
  std::size_t width = 0;                 // String: bytes
};

struct ExportOptions {
  std::string posterior;             // the HDF5 posterior file
  std::string output;                // .fits | .ecsv[.gz] | .csv[.gz]
  std::uint64_t block_rows = 16384;  // stars read and written at a time
  std::string command;               // the command line, recorded in the header
  std::string code_version;
  // Catalogue positions (deg), one per posterior row, or empty: become ra and dec columns.
  std::vector<double> ra, dec;
};

struct ExportResult {
  std::uint64_t rows = 0;
  std::vector<ExportColumn> columns;
  TableFormatChoice format;
};

// The columns a posterior file gives (which datasets it holds decides which appear).
std::vector<ExportColumn> export_columns(const std::string& posterior, bool with_positions);

// Writes the table. Throws InputError for a file that is not a posterior file or positions
// of the wrong length, IoError for a failed read or write (the .partial is removed).
ExportResult export_table(const ExportOptions& options);

}  // namespace irisml::validate
