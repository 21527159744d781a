// The catalogue reader's format back-ends (io/catalog.cpp's CatalogReader reads through
// them): each exposes a file's named 1-D columns, numeric or text. One file per format:
// catalog_hdf5.cpp, catalog_csv.cpp, catalog_fits.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/catalog.hpp"

namespace irisml {

class CatalogReader::Source {
 public:
  virtual ~Source() = default;
  virtual CatalogFormat format() const = 0;
  // Column names in file order (HDF5: 1-D datasets at the root, name order;
  // /true_parameters is not listed, see has_truth_matrix()).
  virtual const std::vector<std::string>& columns() const = 0;
  virtual std::uint64_t rows() const = 0;
  // Rows of a numeric column as doubles; missing values (empty, NaN) → NaN.
  virtual void read_numeric(const std::string& column, std::uint64_t row0, std::uint64_t n, double* out) const = 0;
  virtual std::vector<std::string> read_text(const std::string& column, std::uint64_t row0, std::uint64_t n) const = 0;
  virtual bool has_truth_matrix() const { return false; }
  // rows × 5 in kTruthParameterNames order.
  virtual void read_truth_matrix(std::uint64_t, std::uint64_t, double*) const {}
  // Full check of the numeric columns (CSV parses every row once).
  virtual void validate(const std::vector<std::string>& numeric_columns) const {}
  // Case-insensitive lookups (FITS) or exact ones.
  virtual bool case_insensitive() const { return false; }
  // Objects that are not columns, each with why (HDF5: groups, 2-D datasets); none elsewhere.
  virtual const std::vector<std::pair<std::string, std::string>>& others() const {
    static const std::vector<std::pair<std::string, std::string>> kNone;
    return kNone;
  }
};

// Each opens `path` as its format, or throws InputError naming what is wrong with it.
std::unique_ptr<CatalogReader::Source> open_hdf5_catalog(const std::string& path);
std::unique_ptr<CatalogReader::Source> open_csv_catalog(const std::string& path);
std::unique_ptr<CatalogReader::Source> open_fits_catalog(const std::string& path);

}  // namespace irisml
