#include "io/catalog_source.hpp"

#include <algorithm>
#include <map>

#include "core/error.hpp"
#include "io/fits.hpp"

namespace irisml {

namespace {

// ---------------------------------------------------------------- FITS -----
// The first binary/ASCII table HDU. Columns are read whole on first use and
// cached (the fits wrapper reads whole columns).
class FitsSource final : public CatalogReader::Source {
 public:
  explicit FitsSource(const std::string& path) : file_(fits::File::open(path)) {
    int hdus = file_.hdu_count();
    int table = -1;
    for (int h = 0; h < hdus && table < 0; ++h) {
      file_.move_to_hdu(h);
      if (file_.is_table()) table = h;
    }
    if (table < 0) fail_input("FITS catalogue '{}' has no table extension ({} HDUs, none a table)", path, hdus);
    rows_ = static_cast<std::uint64_t>(file_.num_rows());
    columns_ = file_.column_names();
  }

  CatalogFormat format() const override { return CatalogFormat::Fits; }
  const std::vector<std::string>& columns() const override { return columns_; }
  std::uint64_t rows() const override { return rows_; }
  bool case_insensitive() const override { return true; }

  void read_numeric(const std::string& column, std::uint64_t row0, std::uint64_t n, double* out) const override {
    auto& cache = numeric_[column];
    if (cache.size() != rows_) cache = file_.read_double_column(column);
    std::copy(cache.begin() + static_cast<std::ptrdiff_t>(row0), cache.begin() + static_cast<std::ptrdiff_t>(row0 + n),
              out);
  }

  std::vector<std::string> read_text(const std::string& column, std::uint64_t row0, std::uint64_t n) const override {
    auto& cache = text_[column];
    if (cache.size() != rows_) {
      try {
        cache = file_.read_string_column(column);
      } catch (const IoError&) {  // a numeric id (e.g. Gaia source_id)
        auto values = file_.read_int_column(column);
        cache.clear();
        for (auto v : values) cache.push_back(std::to_string(v));
      }
    }
    return {cache.begin() + static_cast<std::ptrdiff_t>(row0), cache.begin() + static_cast<std::ptrdiff_t>(row0 + n)};
  }

 private:
  fits::File file_;
  std::uint64_t rows_ = 0;
  std::vector<std::string> columns_;
  mutable std::map<std::string, std::vector<double>> numeric_;
  mutable std::map<std::string, std::vector<std::string>> text_;
};

}  // namespace

std::unique_ptr<CatalogReader::Source> open_fits_catalog(const std::string& path) {
  return std::make_unique<FitsSource>(path);
}

}  // namespace irisml
