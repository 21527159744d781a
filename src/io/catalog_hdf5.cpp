#include "io/catalog_source.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace irisml {

namespace {

// ---------------------------------------------------------------- HDF5 -----
class Hdf5Source final : public CatalogReader::Source {
 public:
  explicit Hdf5Source(const std::string& path) : file_(h5::File::open(path)) {
    hid_t root = file_.id();
    H5G_info_t info;
    if (H5Gget_info(root, &info) < 0) fail_io("cannot list the root group of HDF5 catalogue '{}'", path);
    bool rows_known = false;
    std::string first;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      ssize_t len = H5Lget_name_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len < 0) fail_io("cannot read link {} of the root group of '{}'", i, path);
      std::string name(static_cast<std::size_t>(len) + 1, '\0');
      H5Lget_name_by_idx(root, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
      name.resize(static_cast<std::size_t>(len));
      h5::Handle obj(H5Oopen(root, name.c_str(), H5P_DEFAULT));
      if (!obj.valid()) fail_io("cannot open '/{}' in HDF5 catalogue '{}' (truncated or damaged?)", name, path);
      if (H5Iget_type(obj.get()) != H5I_DATASET) {
        others_.push_back({name, "is not a dataset"});
        continue;
      }
      auto dims = file_.dims(name);
      if (name == "true_parameters") {
        if (dims.size() != 2 || dims[1] != 5) {
          fail_input("HDF5 catalogue '{}': /true_parameters has shape [{}], expected [N,5]", path,
                     fmt::join(dims, ","));
        }
        truth_ = true;
        truth_rows_ = dims[0];
        continue;
      }
      if (dims.size() != 1) {
        others_.push_back(
            {name, fmt::format("has shape [{}]; a column must be 1-D, one value per star", fmt::join(dims, ","))});
        continue;
      }
      if (!rows_known) {
        rows_ = dims[0];
        first = name;
        rows_known = true;
      } else if (dims[0] != rows_) {
        fail_input(
            "HDF5 catalogue '{}': column /{} has {} rows but /{} has {}; every column must have one row per star", path,
            name, dims[0], first, rows_);
      }
      columns_.push_back(name);
      text_[name] = is_string_dataset(name);
    }
    if (truth_) {
      if (rows_known && truth_rows_ != rows_) {
        fail_input("HDF5 catalogue '{}': /true_parameters has {} rows but /{} has {}", path, truth_rows_, first, rows_);
      }
      if (!rows_known) rows_ = truth_rows_;
      setup_truth_order(path);
    }
  }

  CatalogFormat format() const override { return CatalogFormat::Hdf5; }
  const std::vector<std::string>& columns() const override { return columns_; }
  std::uint64_t rows() const override { return rows_; }
  // Non-dataset or non-1-D objects, each with what it is (reported as unknown columns,
  // or as misshapen when the name is a column the reader knows).
  const std::vector<std::pair<std::string, std::string>>& others() const override { return others_; }

  void read_numeric(const std::string& column, std::uint64_t row0, std::uint64_t n, double* out) const override {
    if (text_.at(column)) {
      fail_input("HDF5 catalogue '{}': column /{} holds text, but a number is needed there", file_.path(), column);
    }
    file_.read_rows<double>(column, row0, n, out);
  }

  std::vector<std::string> read_text(const std::string& column, std::uint64_t row0, std::uint64_t n) const override {
    auto& cache = text_cache_[column];
    if (cache.empty() && rows_ > 0) {
      if (text_.at(column)) {
        cache = file_.read_strings("/" + column);
      } else {
        auto values = file_.read<std::int64_t>("/" + column);
        cache.reserve(values.size());
        for (auto v : values) cache.push_back(std::to_string(v));
      }
    }
    return {cache.begin() + static_cast<std::ptrdiff_t>(row0), cache.begin() + static_cast<std::ptrdiff_t>(row0 + n)};
  }

  bool has_truth_matrix() const override { return truth_; }
  void read_truth_matrix(std::uint64_t row0, std::uint64_t n, double* out) const override {
    std::vector<double> raw(n * 5);
    file_.read_rows<double>("true_parameters", row0, n, raw.data());
    for (std::uint64_t r = 0; r < n; ++r)
      for (int p = 0; p < 5; ++p) out[r * 5 + p] = raw[r * 5 + static_cast<std::size_t>(truth_order_[p])];
  }

 private:
  bool is_string_dataset(const std::string& name) const {
    h5::Handle dset(H5Dopen2(file_.id(), name.c_str(), H5P_DEFAULT));
    if (!dset.valid()) fail_io("cannot open /{} in '{}'", name, file_.path());
    h5::Handle type(H5Dget_type(dset.get()));
    return type.valid() && H5Tget_class(type.get()) == H5T_STRING;
  }

  void setup_truth_order(const std::string& path) {
    for (int p = 0; p < 5; ++p) truth_order_[p] = p;
    if (!file_.has_attr("true_parameters", "parameter_names")) return;
    std::string names = file_.attr_string("true_parameters", "parameter_names");
    std::vector<std::string> stored;
    std::string cur;
    for (char c : names + ",") {
      if (c == ',' || c == ' ') {
        if (!cur.empty()) stored.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    if (stored.size() != 5) {
      fail_input(
          "HDF5 catalogue '{}': /true_parameters attribute parameter_names = '{}' should name 5 parameters "
          "(teff,logg,mh,av,rv in any order)",
          path, names);
    }
    for (int p = 0; p < 5; ++p) {
      auto it = std::find(stored.begin(), stored.end(), kTruthParameterNames[p]);
      if (it == stored.end()) {
        fail_input("HDF5 catalogue '{}': /true_parameters attribute parameter_names = '{}' lacks '{}'", path, names,
                   kTruthParameterNames[p]);
      }
      truth_order_[p] = static_cast<int>(it - stored.begin());
    }
  }

  h5::File file_;
  std::vector<std::string> columns_;
  std::vector<std::pair<std::string, std::string>> others_;
  std::map<std::string, bool> text_;
  std::uint64_t rows_ = 0, truth_rows_ = 0;
  bool truth_ = false;
  int truth_order_[5] = {0, 1, 2, 3, 4};
  mutable std::map<std::string, std::vector<std::string>> text_cache_;
};

}  // namespace

std::unique_ptr<CatalogReader::Source> open_hdf5_catalog(const std::string& path) {
  return std::make_unique<Hdf5Source>(path);
}

}  // namespace irisml
