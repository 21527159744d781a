#include "io/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "core/log.hpp"
#include "io/fits.hpp"
#include "io/gaia_zero_point.hpp"
#include "io/hdf5.hpp"
#include "io/text_lines.hpp"

namespace irisml {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string extension_of(const std::string& path) {
  std::string name = lower(path);
  auto slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (ends_with(name, ".gz")) name = name.substr(0, name.size() - 3);
  auto dot = name.find_last_of('.');
  return dot == std::string::npos ? "" : name.substr(dot + 1);
}

bool starts_with_bytes(const std::string& path, const char* magic, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string buf(n, '\0');
  if (!in.read(buf.data(), static_cast<std::streamsize>(n))) return false;
  return std::memcmp(buf.data(), magic, n) == 0;
}

}  // namespace

const char* to_string(CatalogFormat format) {
  switch (format) {
    case CatalogFormat::Hdf5: return "HDF5";
    case CatalogFormat::Csv: return "CSV";
    case CatalogFormat::Fits: return "FITS";
  }
  return "?";
}

std::map<std::string, std::string> parse_column_map(const std::string& text) {
  std::map<std::string, std::string> out;
  std::string item;
  auto flush = [&](const std::string& raw) {
    std::string entry = trim(raw);
    if (entry.empty()) return;
    auto colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size() ||
        entry.find(':', colon + 1) != std::string::npos) {
      fail_input("--columns item '{}' is not of the form FILE_COLUMN:NAME (e.g. gmag:PS1_g,e_gmag:PS1_g_err)", entry);
    }
    std::string from = trim(entry.substr(0, colon)), to = trim(entry.substr(colon + 1));
    if (out.count(from)) fail_input("--columns maps column '{}' twice", from);
    out[from] = to;
  };
  for (char c : text) {
    if (c == ',') {
      flush(item);
      item.clear();
    } else {
      item += c;
    }
  }
  flush(item);
  return out;
}

int CatalogBlock::bands(std::uint64_t row) const {
  if (rows == 0) return 0;
  const std::size_t f = mag.size() / rows;
  int n = 0;
  for (std::size_t j = 0; j < f; ++j) n += std::isnan(mag[row * f + j]) ? 0 : 1;
  return n;
}

// ---------------------------------------------------------------------------
// Format back-ends: each exposes named 1-D columns (numeric or text).

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
};

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
  const std::vector<std::pair<std::string, std::string>>& others() const { return others_; }

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

// ----------------------------------------------------------------- CSV -----
// A comma-separated file, plain or gzip-compressed: optional '#' comment lines, one
// header row, then one row per star. Fields may be double-quoted ("" inside quotes is a
// quote). A quoted field may not span lines. Empty, NaN and null mean missing.
//
// ECSV (astropy's Enhanced CSV, what the Gaia archive's bulk export is, gzipped, under
// .csv.gz names) is told by its first line '# %ECSV <version>': its '#' YAML header gives
// the delimiter (',' or ' ', a space by default) and the column names, which must match
// the header row that follows.
class CsvSource final : public CatalogReader::Source {
 public:
  explicit CsvSource(const std::string& path) : path_(path), in_(path) {
    try {
      scan();
    } catch (const InputError& e) {
      // In a gzip file, a parse error may be what a damaged stream decompresses to (the
      // CRC is checked only at its end): read it whole, and report the damage if it is.
      if (in_.compressed()) check_stream(e.what());
      throw;
    }
  }

  CatalogFormat format() const override { return CatalogFormat::Csv; }
  const std::vector<std::string>& columns() const override { return columns_; }
  std::uint64_t rows() const override { return offsets_.size(); }

 private:
  void check_stream(const std::string& parse_error) const {
    TextLines whole(path_);
    std::string line;
    try {
      while (whole.next(line)) {
      }
    } catch (const IoError& damaged) {
      fail_io("catalogue '{}' is a damaged gzip file: {} (it decompresses to text that reads as: {})", path_,
              damaged.what(), parse_error);
    }
  }

  // Reads the header (and an ECSV YAML header) and every row's offset.
  void scan() {
    std::string line;
    std::uint64_t line_no = 0;
    bool header = false;
    bool ecsv = false;  // first line '# %ECSV': the '#' lines before the header row are its YAML header
    EcsvHeader yaml;
    for (std::uint64_t offset = in_.tell(); in_.next(line); offset = in_.tell()) {
      ++line_no;
      strip_cr(line);
      // a UTF-8 byte-order mark (spreadsheet exports) is not part of the first column's name
      if (line_no == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
      if (line_no == 1 && line.compare(0, 7, "# %ECSV") == 0) {
        ecsv = true;
        delimiter_ = ' ';  // ECSV's default; ',' only when the YAML says so
      }
      if (ecsv && !header && !line.empty() && line[0] == '#') {
        read_ecsv_header_line(line, line_no, yaml);
        continue;
      }
      if (skip_line(line)) continue;
      auto fields = split(line, line_no);
      if (!header) {
        header = true;
        header_line_ = line_no;
        for (std::size_t i = 0; i < fields.size(); ++i) {
          std::string name = trim(fields[i]);
          if (name.empty()) fail_input("catalogue '{}' line {}: header column {} has no name", path_, line_no, i + 1);
          if (index_.count(name)) {
            fail_input("catalogue '{}' line {}: header names column '{}' twice", path_, line_no, name);
          }
          index_[name] = i;
          columns_.push_back(name);
        }
        if (ecsv) check_ecsv_names(yaml.names, line_no);
        continue;
      }
      if (fields.size() != columns_.size()) {
        if (fields.size() < columns_.size()) {
          fail_input(
              "catalogue '{}' line {}: ragged row: {} values but the header (line {}) has {} columns; the row "
              "ends before column '{}' (column {})",
              path_, line_no, fields.size(), header_line_, columns_.size(), columns_[fields.size()], fields.size() + 1);
        }
        fail_input(
            "catalogue '{}' line {}: ragged row: {} values but the header (line {}) has {} columns; extra "
            "value '{}' in column {}",
            path_, line_no, fields.size(), header_line_, columns_.size(), trim(fields[columns_.size()]),
            columns_.size() + 1);
      }
      offsets_.push_back(offset);
      lines_.push_back(line_no);
    }
    if (!header) fail_input("catalogue '{}' is empty: no header row", path_);
  }

 public:
  void read_numeric(const std::string& column, std::uint64_t row0, std::uint64_t n, double* out) const override {
    load(row0, n);
    const std::size_t c = index_.at(column);
    for (std::uint64_t r = 0; r < n; ++r) {
      const std::string& field = cache_[r][c];
      out[r] = parse_number(field, lines_[row0 + r], column, c);
    }
  }

  std::vector<std::string> read_text(const std::string& column, std::uint64_t row0, std::uint64_t n) const override {
    load(row0, n);
    const std::size_t c = index_.at(column);
    std::vector<std::string> out;
    out.reserve(n);
    for (std::uint64_t r = 0; r < n; ++r) out.push_back(trim(cache_[r][c]));
    return out;
  }

  void validate(const std::vector<std::string>& numeric_columns) const override {
    constexpr std::uint64_t kChunk = 32768;
    std::vector<double> scratch(kChunk);
    for (std::uint64_t r0 = 0; r0 < rows(); r0 += kChunk) {
      std::uint64_t n = std::min(kChunk, rows() - r0);
      for (const auto& c : numeric_columns) read_numeric(c, r0, n, scratch.data());
    }
    cache_row0_ = cache_rows_ = 0;
    cache_.clear();
    cache_.shrink_to_fit();
  }

 private:
  static void strip_cr(std::string& line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
  }
  static bool skip_line(const std::string& line) {
    std::string t = trim(line);
    return t.empty() || t[0] == '#';
  }

  std::vector<std::string> split(const std::string& line, std::uint64_t line_no) const {
    std::vector<std::string> fields;
    std::string cur;
    bool quoted = false, was_quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      char c = line[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cur += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          cur += c;
        }
      } else if (c == '"' && trim(cur).empty()) {
        quoted = true;
        was_quoted = true;
        cur.clear();
      } else if (c == delimiter_) {
        // a space-delimited ECSV row: runs of spaces are one separator
        if (delimiter_ == ' ' && cur.empty() && !was_quoted) continue;
        fields.push_back(cur);
        cur.clear();
        was_quoted = false;
      } else {
        cur += c;
      }
    }
    if (quoted) fail_input("catalogue '{}' line {}: a quoted field is not closed", path_, line_no);
    if (!(delimiter_ == ' ' && cur.empty() && !was_quoted && !fields.empty())) fields.push_back(cur);
    return fields;
  }

  double parse_number(const std::string& field, std::uint64_t line_no, const std::string& column, std::size_t c) const {
    std::string t = trim(field);
    if (t.empty() || iequals(t, "null")) return kNaN;
    const char* begin = t.c_str();
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    if (end == begin || *end != '\0') {
      fail_input(
          "catalogue '{}' line {}, column '{}' (column {}): '{}' is not a number (empty, NaN or null mean missing)",
          path_, line_no, column, c + 1, t);
    }
    return v;
  }

  // Parses rows [row0, row0+n) into cache_ (fields per row) unless already there.
  void load(std::uint64_t row0, std::uint64_t n) const {
    if (row0 == cache_row0_ && n == cache_rows_ && cache_.size() == n) return;
    cache_.assign(n, {});
    cache_row0_ = row0;
    cache_rows_ = n;
    if (n == 0) return;
    in_.seek(offsets_[row0]);
    std::string line;
    std::uint64_t r = 0;
    while (r < n && in_.next(line)) {
      strip_cr(line);
      if (skip_line(line)) continue;
      cache_[r] = split(line, lines_[row0 + r]);
      ++r;
    }
    if (r < n) fail_io("catalogue '{}' changed while being read (ends before row {})", path_, row0 + r);
  }

  // What the ECSV YAML header has said so far.
  struct EcsvHeader {
    bool open = false;               // '# ---' seen
    std::string section;             // the top-level key being read
    std::vector<std::string> names;  // the column names its datatype list declares
  };

  // One '#' line before an ECSV file's header row: '# ---' opens the YAML, whose
  // 'delimiter:' and column 'name:' entries are kept.
  void read_ecsv_header_line(const std::string& line, std::uint64_t line_no, EcsvHeader& yaml) {
    std::string body = line.substr(1);
    if (!body.empty() && body[0] == ' ') body.erase(0, 1);
    if (trim(body) == "---") {
      yaml.open = true;
      return;
    }
    if (!yaml.open) return;
    const std::string t = trim(body);
    if (!body.empty() && body[0] != ' ' && body[0] != '-') {  // a top-level key opens a section
      yaml.section = trim(body.substr(0, body.find(':')));
    }
    if (t.compare(0, 10, "delimiter:") == 0) {
      std::string d = trim(t.substr(10));
      if (d.size() >= 2 && (d.front() == '\'' || d.front() == '"') && d.back() == d.front())
        d = d.substr(1, d.size() - 2);
      if (d == ",") {
        delimiter_ = ',';
      } else if (d == " ") {
        delimiter_ = ' ';
      } else {
        fail_input("ECSV catalogue '{}' line {}: delimiter '{}' is not supported (',' or ' ')", path_, line_no, d);
      }
      return;
    }
    // a column of the datatype list: '- {name: x, datatype: float64, ...}' or block style '- name: x'
    if (yaml.section != "datatype") return;
    std::size_t at = std::string::npos;
    if (t.compare(0, 9, "- {name: ") == 0) at = 9;
    if (t.compare(0, 8, "- name: ") == 0) at = 8;
    if (at == std::string::npos) return;
    std::string name = t.substr(at);
    if (!name.empty() && (name[0] == '\'' || name[0] == '"')) {
      const auto close = name.find(name[0], 1);
      name = close == std::string::npos ? name.substr(1) : name.substr(1, close - 1);
    } else {
      name = trim(name.substr(0, name.find_first_of(",}")));
    }
    yaml.names.push_back(name);
  }

  // The ECSV header row must name the columns the YAML header declares, in order.
  void check_ecsv_names(const std::vector<std::string>& declared, std::uint64_t line_no) const {
    if (declared.empty()) return;  // no (parsable) datatype list: the header row rules
    if (declared.size() != columns_.size()) {
      fail_input("ECSV catalogue '{}' line {}: the header row has {} columns but the YAML header declares {}", path_,
                 line_no, columns_.size(), declared.size());
    }
    for (std::size_t i = 0; i < declared.size(); ++i) {
      if (declared[i] != columns_[i]) {
        fail_input("ECSV catalogue '{}' line {}: column {} is '{}' in the header row but '{}' in the YAML header",
                   path_, line_no, i + 1, columns_[i], declared[i]);
      }
    }
  }

  std::string path_;
  mutable TextLines in_;
  char delimiter_ = ',';
  std::vector<std::string> columns_;
  std::map<std::string, std::size_t> index_;
  std::uint64_t header_line_ = 0;
  std::vector<std::uint64_t> offsets_;
  std::vector<std::uint64_t> lines_;
  mutable std::vector<std::vector<std::string>> cache_;
  mutable std::uint64_t cache_row0_ = 0, cache_rows_ = 0;
};

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

// True if the first kilobyte is printable text (a CSV file under another extension).
bool looks_like_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char buffer[1024];
  in.read(buffer, sizeof buffer);
  const auto n = in.gcount();
  if (n <= 0) return false;
  for (std::streamsize i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(buffer[i]);
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f) return false;
  }
  return true;
}

std::unique_ptr<CatalogReader::Source> open_source(const std::string& path, CatalogFormat& format) {
  {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      fail_input("catalogue '{}' is a directory; give a catalogue file (.h5/.hdf5, .csv/.ecsv[.gz] or .fits)", path);
    }
    if (!std::filesystem::exists(path, ec)) fail_input("catalogue '{}' does not exist", path);
    std::ifstream probe(path, std::ios::binary);
    if (!probe) fail_io("cannot open catalogue '{}': file unreadable", path);
  }
  const std::string ext = extension_of(path);
  const bool hdf5_sig = h5::is_hdf5(path);
  const bool fits_sig = starts_with_bytes(path, "SIMPLE  =", 9);
  if (hdf5_sig) {
    format = CatalogFormat::Hdf5;
    return std::make_unique<Hdf5Source>(path);
  }
  if (ext == "h5" || ext == "hdf5" || ext == "he5") {
    fail_input("catalogue '{}' is not an HDF5 file (no HDF5 signature){}", path,
               fits_sig                ? "; it is a FITS file: rename it to .fits"
               : looks_like_text(path) ? "; it holds text: a CSV catalogue must be named .csv"
                                       : "; truncated, or another format?");
  }
  if (fits_sig || ((ext == "fits" || ext == "fit" || ext == "fts") && is_gzip_file(path))) {
    format = CatalogFormat::Fits;
    return std::make_unique<FitsSource>(path);
  }
  if (ext == "fits" || ext == "fit" || ext == "fts") {
    fail_input("catalogue '{}' is not a FITS file (it does not start with 'SIMPLE  ='){}", path,
               looks_like_text(path) ? "; it holds text: a CSV catalogue must be named .csv"
                                     : "; truncated, or another format?");
  }
  if (ext == "csv" || ext == "ecsv" || ext == "txt") {
    format = CatalogFormat::Csv;
    return std::make_unique<CsvSource>(path);
  }
  fail_input(
      "catalogue '{}': cannot tell the format from extension '.{}'; use .h5/.hdf5 (HDF5), .csv/.ecsv (CSV or "
      "ECSV, optionally .gz) or .fits/.fit (FITS binary table)",
      path, ext);
}

}  // namespace

// ---------------------------------------------------------------------------

namespace {

// Where one output band's values come from.
struct BandSource {
  std::string value_column, error_column;  // the magnitude (or flux) and its error
  bool flux = false;                       // converted with the zero point
  double zero_point = 0.0, zero_point_error = 0.0;
  const ColumnPreset* preset = nullptr;  // the preset it came from (its conventions), or none
};

bool same_value(double v, double reference) {
  return std::fabs(v - reference) <= 1e-6 * std::max(1.0, std::fabs(reference));
}

// 2.5 / ln 10: d(mag) = kPogson * dF / F.
const double kPogson = 2.5 / std::log(10.0);

}  // namespace

struct CatalogReader::Impl {
  std::string path;
  CatalogFormat format = CatalogFormat::Csv;
  std::unique_ptr<Source> source;
  CatalogOptions options;
  std::vector<std::string> filters;  // registry names, output order
  std::vector<double> offsets;       // per filter
  std::vector<BandSource> sources;   // per filter
  std::string id_column, ra_column, dec_column;
  std::string constraint_columns[kConstraintCount];      // file columns ("" = absent)
  std::string zero_point_columns[kGaiaZeroPointInputs];  // with options.gaia_zero_point only
  int gaia_g = -1;                                       // Gaia_G's index in filters, or −1
  std::vector<std::string> truth_columns;                // 5 file columns (CSV/FITS), empty otherwise
  bool truth_matrix = false;
  std::vector<std::string> ignored, skipped;

  // A value equal to one of the band's preset missing values (-999, -9999, ...).
  bool preset_missing(const BandSource& s, double v) const {
    if (!s.preset) return false;
    return std::any_of(s.preset->missing_values.begin(), s.preset->missing_values.end(),
                       [&](double m) { return same_value(v, m); });
  }
  // A magnitude or flux that is not there: empty, null, NaN, ±inf, the magnitude sentinel
  // (magnitudes only) or a preset missing value.
  bool is_missing(const BandSource& s, double v) const {
    if (!std::isfinite(v)) return true;
    const double sentinel = options.missing_sentinel;
    if (!s.flux && std::isfinite(sentinel) && same_value(v, sentinel)) return true;
    return preset_missing(s, v);
  }
};

CatalogReader::CatalogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CatalogReader::CatalogReader(CatalogReader&&) noexcept = default;
CatalogReader& CatalogReader::operator=(CatalogReader&&) noexcept = default;
CatalogReader::~CatalogReader() = default;

namespace {

// What CatalogReader::open learns from a file's column names.
struct ResolvedColumns {
  std::vector<std::string> filters;  // registry names, output order
  std::vector<double> offsets;       // per filter
  std::vector<BandSource> sources;   // per filter
  std::string id_column, ra_column, dec_column;
  std::string constraint_columns[kConstraintCount];      // file columns ("" = absent)
  std::string zero_point_columns[kGaiaZeroPointInputs];  // file columns ("" = absent)
  std::vector<std::string> truth_columns;                // 5 file columns, or none
  std::vector<std::string> ignored, skipped;
};

// The star-constraint index of a canonical (lower-case) name, or −1.
int constraint_index(const std::string& lc) {
  for (int c = 0; c < kConstraintCount; ++c)
    if (lc == kConstraintNames[c]) return c;
  return -1;
}

// The index in kGaiaZeroPointColumns of a canonical (lower-case) name, or −1.
int zero_point_index(const std::string& lc) {
  for (int c = 0; c < kGaiaZeroPointInputs; ++c)
    if (lc == kGaiaZeroPointColumns[c]) return c;
  return -1;
}

// Resolves a catalogue's columns in named steps (CatalogReader::open calls them in
// order): the explicit --columns and flux mappings, the column presets' bands, their
// id/ra/dec and their lists of other columns, then every column classified (a band, its
// error, id, ra, dec, a truth column, skipped or unknown) and the result checked.
class ColumnResolver {
 public:
  ColumnResolver(const std::string& path, const KnownFilters& known_filters, const CatalogOptions& options,
                 const std::vector<std::string>& names, bool case_insensitive)
      : path_(path), known_(known_filters), opt_(options), names_(names), ci_(case_insensitive) {}

  void map_explicit_columns();
  void map_explicit_fluxes();
  void map_preset_bands();
  void map_preset_positions();
  void skip_preset_columns();
  // `hdf5_others`: an HDF5 file's datasets that are not catalogue columns, with why.
  ResolvedColumns classify(bool registry_order, const std::vector<std::pair<std::string, std::string>>& hdf5_others);

 private:
  std::string known_list() const;
  int find_filter(const std::string& name) const;
  const std::string& filter_name(int f) const { return known_[static_cast<std::size_t>(f)].first; }
  std::string canonical_target(const std::string& to) const;
  std::string column_named(const std::string& want, const std::string& who) const;
  std::string origin(const std::string& column) const;
  void add_preset_band(const ColumnPreset& p, const std::string& band_name, const std::string& value_want,
                       const std::string& error_want, const FluxColumns* flux);
  void claim(const std::string& canonical, const std::string& column);
  void check_unknown(const std::vector<std::string>& unknown, ResolvedColumns& out) const;
  void check_pairs() const;
  void check_positions_and_truth(ResolvedColumns& out, const std::string (&truth_cols)[5]) const;

  const std::string& path_;
  const KnownFilters& known_;
  const CatalogOptions& opt_;
  const std::vector<std::string>& names_;
  const bool ci_;

  std::map<std::string, std::string> canon_of_;           // file column → the name it stands for
  std::map<std::string, std::string> origin_of_;          // file column → " (column preset 'x')"
  std::map<std::string, FluxColumns> flux_of_;            // flux column → its conversion
  std::map<std::string, const ColumnPreset*> preset_of_;  // value column of a preset band → the preset
  std::set<std::string> explicit_columns_, explicit_targets_, skipped_;
  std::map<int, std::string> mag_of_, err_of_;  // known-filter index → file column
  std::map<std::string, std::string> claimed_;  // canonical → file column
};

std::string ColumnResolver::known_list() const {
  std::vector<std::string> known_names;
  for (const auto& kf : known_) known_names.push_back(kf.first);
  return fmt::format("{}", fmt::join(known_names, ", "));
}

// Filter lookup: exact, then case-insensitive (FITS headers are often upper case); -1
// when absent or ambiguous.
int ColumnResolver::find_filter(const std::string& name) const {
  for (std::size_t i = 0; i < known_.size(); ++i)
    if (known_[i].first == name) return static_cast<int>(i);
  int hit = -1;
  for (std::size_t i = 0; i < known_.size(); ++i) {
    if (iequals(known_[i].first, name)) {
      if (hit >= 0) return -1;  // ambiguous
      hit = static_cast<int>(i);
    }
  }
  return hit;
}

// A mapping target in canonical spelling: a filter (or <filter>_err) as the registry
// writes it, anything else in lower case.
std::string ColumnResolver::canonical_target(const std::string& to) const {
  if (int f = find_filter(to); f >= 0) return filter_name(f);
  if (ends_with(lower(to), "_err")) {
    if (int g = find_filter(to.substr(0, to.size() - 4)); g >= 0) return filter_name(g) + "_err";
  }
  return lower(to);
}

// The file column a preset (or flux mapping) names: exact, else the one matching
// case-insensitively; "" if absent.
std::string ColumnResolver::column_named(const std::string& want, const std::string& who) const {
  std::vector<std::string> hits;
  for (const auto& n : names_) {
    if (n == want) return n;
    if (iequals(n, want)) hits.push_back(n);
  }
  if (hits.size() > 1) {
    fail_input(
        "catalogue '{}': {} column '{}' matches columns {} when case is ignored; keep one of them, or map the one "
        "to use with --columns",
        path_, who, want, fmt::join(hits, ", "));
  }
  return hits.empty() ? std::string() : hits.front();
}

std::string ColumnResolver::origin(const std::string& column) const {
  auto it = origin_of_.find(column);
  return it == origin_of_.end() ? std::string() : it->second;
}

// --columns keys must exist in the file.
void ColumnResolver::map_explicit_columns() {
  for (const auto& [from, to] : opt_.column_map) {
    bool found = false;
    for (const auto& n : names_) {
      if (ci_ ? iequals(n, from) : n == from) {
        canon_of_[n] = to;
        explicit_columns_.insert(n);
        found = true;
      }
    }
    if (!found) {
      fail_input("--columns maps '{}' to '{}', but catalogue '{}' has no column '{}'; its columns: {}", from, to, path_,
                 from, fmt::join(names_, ", "));
    }
    explicit_targets_.insert(canonical_target(to));
  }
}

// Flux columns given explicitly: both columns must be there.
void ColumnResolver::map_explicit_fluxes() {
  for (const auto& fc : opt_.flux_columns) {
    const int f = find_filter(fc.band);
    if (f < 0) {
      fail_input("flux column '{}' is mapped to '{}', which is not a known filter; known filters: {}", fc.flux, fc.band,
                 known_list());
    }
    const std::string flux = column_named(fc.flux, "flux"), error = column_named(fc.error, "flux error");
    if (flux.empty() || error.empty()) {
      fail_input("catalogue '{}' has no column '{}' (the {} of {}); its columns: {}", path_,
                 flux.empty() ? fc.flux : fc.error, flux.empty() ? "flux" : "flux error", filter_name(f),
                 fmt::join(names_, ", "));
    }
    const std::string& band = filter_name(f);
    canon_of_[flux] = band;
    canon_of_[error] = band + "_err";
    flux_of_[flux] = fc;
    flux_of_[flux].band = band;
    explicit_columns_.insert({flux, error});
    explicit_targets_.insert({band, band + "_err"});
  }
}

// One band of preset `p` (a magnitude, or a flux when `flux` is set): mapped when its
// columns are in the file, unless an explicit mapping replaces it.
void ColumnResolver::add_preset_band(const ColumnPreset& p, const std::string& band_name, const std::string& value_want,
                                     const std::string& error_want, const FluxColumns* flux) {
  const std::string who = fmt::format("column preset '{}'", p.name);
  const int f = find_filter(band_name);
  if (f < 0) {
    fail_input("{} ({}) maps '{}' to band '{}', which is not in the filter registry; known filters: {}", who, p.origin,
               value_want, band_name, known_list());
  }
  const std::string& band = filter_name(f);
  const std::string value = column_named(value_want, who), error = column_named(error_want, who);
  if (value.empty() && error.empty()) return;  // not in this file
  if (explicit_columns_.count(value) || explicit_columns_.count(error) || explicit_targets_.count(band) ||
      explicit_targets_.count(band + "_err")) {  // the explicit mapping wins
    for (const auto& c : {value, error})
      if (!c.empty() && !explicit_columns_.count(c)) skipped_.insert(c);
    return;
  }
  const char* kind = flux ? "flux" : "magnitude";
  if (error.empty()) {
    fail_input(
        "catalogue '{}': column '{}' is the {} of {} in {} ({}), but the file has no error column '{}'; every {} "
        "needs its error (add the column, or map the band with --columns FILE_COLUMN:{},FILE_COLUMN:{}_err)",
        path_, value, kind, band, who, p.origin, error_want, kind, band, band);
  }
  if (value.empty()) {
    fail_input(
        "catalogue '{}': column '{}' is the error of {} in {} ({}), but the file has no {} column '{}'; an error "
        "needs its {} (add the column, or map the band with --columns FILE_COLUMN:{},FILE_COLUMN:{}_err)",
        path_, error, band, who, p.origin, kind, value_want, kind, band, band);
  }
  canon_of_[value] = band;
  canon_of_[error] = band + "_err";
  origin_of_[value] = origin_of_[error] = fmt::format(" ({})", who);
  preset_of_[value] = &p;
  if (flux) {
    flux_of_[value] = *flux;
    flux_of_[value].band = band;
  }
}

// Presets: their bands present in the file, unless an explicit mapping replaces them.
void ColumnResolver::map_preset_bands() {
  for (const auto& p : opt_.presets) {
    for (const auto& m : p.magnitudes) add_preset_band(p, m.band, m.magnitude, m.error, nullptr);
    for (const auto& fc : p.fluxes) add_preset_band(p, fc.band, fc.flux, fc.error, &fc);
  }
}

// id, ra, dec, and the parallax pair: from the first preset that has them in the file
// (unless mapped explicitly); the other presets' become skipped columns.
void ColumnResolver::map_preset_positions() {
  for (const std::string role : {"id", "ra", "dec"}) {
    bool taken = explicit_targets_.count(role) > 0;
    for (const auto& p : opt_.presets) {
      for (const auto& want : role == "id" ? p.id : role == "ra" ? p.ra : p.dec) {
        const std::string c = column_named(want, fmt::format("column preset '{}'", p.name));
        if (c.empty() || canon_of_.count(c)) continue;  // absent, or mapped already
        if (taken) {
          skipped_.insert(c);
        } else {
          canon_of_[c] = role;
          origin_of_[c] = fmt::format(" (column preset '{}')", p.name);
          taken = true;
        }
      }
    }
  }
  // The parallax and its error, as a pair: the first preset with both in the file gives
  // them; one without the other is not used (a warning names it).
  bool taken = explicit_targets_.count("parallax") > 0 || explicit_targets_.count("parallax_err") > 0;
  for (const auto& p : opt_.presets) {
    const std::string who = fmt::format("column preset '{}'", p.name);
    std::string value, error;
    for (const auto& want : p.parallax)
      if (value.empty()) value = column_named(want, who);
    for (const auto& want : p.parallax_err)
      if (error.empty()) error = column_named(want, who);
    if (value.empty() && error.empty()) continue;
    if (canon_of_.count(value) || canon_of_.count(error)) continue;  // mapped already
    if (taken || value.empty() || error.empty()) {
      for (const auto& c : {value, error})
        if (!c.empty()) skipped_.insert(c);
      if (!taken) {
        log::warn("catalogue '{}': {} has column '{}' but not its {}; the parallax is not used", path_, who,
                  value.empty() ? error : value, value.empty() ? "value" : "error");
      }
      continue;
    }
    canon_of_[value] = "parallax";
    canon_of_[error] = "parallax_err";
    origin_of_[value] = origin_of_[error] = fmt::format(" ({})", who);
    taken = true;
  }
}

// The presets' lists of their tables' other columns.
void ColumnResolver::skip_preset_columns() {
  for (const auto& p : opt_.presets) {
    for (const auto& want : p.skip) {
      const bool prefix = want.size() > 1 && want.back() == '*';
      const std::string stem = prefix ? want.substr(0, want.size() - 1) : want;
      for (const auto& n : names_) {
        const bool hit = prefix ? n.size() >= stem.size() && iequals(n.substr(0, stem.size()), stem) : iequals(n, want);
        if (hit && !canon_of_.count(n)) skipped_.insert(n);
      }
    }
  }
}

void ColumnResolver::claim(const std::string& canonical, const std::string& column) {
  auto it = claimed_.find(canonical);
  if (it != claimed_.end()) {
    fail_input("catalogue '{}': columns '{}'{} and '{}'{} both stand for '{}'", path_, it->second, origin(it->second),
               column, origin(column), canonical);
  }
  claimed_[canonical] = column;
}

// Every column: a band, its error, id, ra, dec, a truth column, skipped or unknown.
ResolvedColumns ColumnResolver::classify(bool registry_order,
                                         const std::vector<std::pair<std::string, std::string>>& hdf5_others) {
  ResolvedColumns out;
  std::vector<int> mag_order;  // known-filter indices in file order
  std::vector<std::string> unknown;
  std::string truth_cols[5];
  for (const auto& column : names_) {
    auto mapping = canon_of_.find(column);
    const bool was_mapped = mapping != canon_of_.end();
    const std::string canon = was_mapped ? mapping->second : column;
    const std::string lc = lower(canon);
    // The zero point's inputs are read when it is asked for, though a preset skips them.
    const int zero_point_input = opt_.gaia_zero_point ? zero_point_index(lc) : -1;
    if (!was_mapped && skipped_.count(column) && zero_point_input < 0) {
      out.skipped.push_back(column);
      continue;
    }
    if (lc == "id") {
      claim("id", column);
      out.id_column = column;
    } else if (lc == "ra") {
      claim("ra", column);
      out.ra_column = column;
    } else if (lc == "dec") {
      claim("dec", column);
      out.dec_column = column;
    } else if (const int c = constraint_index(lc); c >= 0) {
      claim(lc, column);
      out.constraint_columns[c] = column;
    } else if (zero_point_input >= 0) {
      claim(lc, column);
      out.zero_point_columns[zero_point_input] = column;
    } else if (lc.rfind("true_", 0) == 0) {
      std::string param = lc.substr(5);
      for (int p = 0; p < 5; ++p) {
        if (param == kTruthParameterNames[p]) {
          claim(lc, column);
          truth_cols[p] = column;
        }
      }
      // other true_* columns are labels we do not use: skipped silently
    } else if (int f = find_filter(canon); f >= 0) {
      claim(filter_name(f), column);
      mag_of_[f] = column;
      mag_order.push_back(f);
    } else if (ends_with(lc, "_err") && find_filter(canon.substr(0, canon.size() - 4)) >= 0) {
      int g = find_filter(canon.substr(0, canon.size() - 4));
      claim(filter_name(g) + "_err", column);
      err_of_[g] = column;
    } else if (was_mapped) {
      fail_input(
          "--columns maps '{}' to '{}', which is not a known filter, a <filter>_err column, id, ra, dec, "
          "parallax, parallax_err, av_prior, av_prior_err, av_max or true_<parameter>; known filters: {}",
          column, canon, known_list());
    } else {
      unknown.push_back(column);
    }
  }
  for (const auto& [name, what] : hdf5_others) {
    if (skipped_.count(name)) continue;
    auto mapping = canon_of_.find(name);
    const std::string canon = mapping == canon_of_.end() ? name : mapping->second, lc = lower(canon);
    const bool known_name = lc == "id" || lc == "ra" || lc == "dec" || constraint_index(lc) >= 0 ||
                            lc.rfind("true_", 0) == 0 || find_filter(canon) >= 0 ||
                            (ends_with(lc, "_err") && find_filter(canon.substr(0, canon.size() - 4)) >= 0);
    if (known_name) fail_input("HDF5 catalogue '{}': /{} {}", path_, name, what);
    unknown.push_back(fmt::format("{} ({})", name, what));
  }
  check_unknown(unknown, out);
  check_pairs();
  if (registry_order) std::sort(mag_order.begin(), mag_order.end());
  for (int f : mag_order) {
    BandSource s;
    s.value_column = mag_of_[f];
    s.error_column = err_of_[f];
    if (auto it = flux_of_.find(s.value_column); it != flux_of_.end()) {
      s.flux = true;
      s.zero_point = it->second.zero_point;
      s.zero_point_error = it->second.zero_point_error;
    }
    if (auto it = preset_of_.find(s.value_column); it != preset_of_.end()) s.preset = it->second;
    out.filters.push_back(filter_name(f));
    out.offsets.push_back(known_[static_cast<std::size_t>(f)].second);
    out.sources.push_back(std::move(s));
  }
  check_positions_and_truth(out, truth_cols);
  return out;
}

// Columns that are none of the known kinds: an error, or with --ignore-unknown-columns
// a warning and a list.
void ColumnResolver::check_unknown(const std::vector<std::string>& unknown, ResolvedColumns& out) const {
  if (unknown.empty()) return;
  if (!opt_.ignore_unknown_columns) {
    std::vector<std::string> preset_names;
    for (const auto& p : opt_.presets) preset_names.push_back(p.name);
    fail_input(
        "catalogue '{}': column(s) {} are not known filters, <filter>_err error columns, id, ra, dec, "
        "parallax, parallax_err, av_prior, av_prior_err, av_max or true_<parameter>{}; known filters: {}. Map other "
        "names with --columns NAME:FILTER, or pass "
        "--ignore-unknown-columns to skip them",
        path_, fmt::join(unknown, ", "),
        preset_names.empty() ? std::string()
                             : fmt::format(", nor columns of column preset(s) {}", fmt::join(preset_names, ", ")),
        known_list());
  }
  log::warn("catalogue '{}': ignoring {} unknown column(s): {}", path_, unknown.size(), fmt::join(unknown, ", "));
  out.ignored = unknown;
}

// Every magnitude has its error and every error its magnitude; at least one band.
void ColumnResolver::check_pairs() const {
  for (const auto& [f, column] : mag_of_) {
    if (!err_of_.count(f)) {
      fail_input(
          "catalogue '{}': filter column '{}' ({}) has no error column '{}_err'; every magnitude needs its "
          "error (map another name with --columns NAME:{}_err)",
          path_, column, filter_name(f), filter_name(f), filter_name(f));
    }
  }
  for (const auto& [f, column] : err_of_) {
    if (!mag_of_.count(f)) {
      fail_input("catalogue '{}': error column '{}' has no magnitude column '{}'", path_, column, filter_name(f));
    }
  }
  if (mag_of_.empty()) {
    fail_input("catalogue '{}' has no filter columns (columns: {}); known filters: {}", path_, fmt::join(names_, ", "),
               known_list());
  }
}

// ra and dec come together, and so do parallax and parallax_err, av_prior and
// av_prior_err; the truth columns all five or none.
void ColumnResolver::check_positions_and_truth(ResolvedColumns& out, const std::string (&truth_cols)[5]) const {
  if (out.ra_column.empty() != out.dec_column.empty()) {
    fail_input("catalogue '{}' has a{} column but no {} column", path_, out.ra_column.empty() ? " dec" : "n ra",
               out.ra_column.empty() ? "ra" : "dec");
  }
  for (const auto& [value, error] : kConstraintPairs) {
    const std::string &v = out.constraint_columns[value], &e = out.constraint_columns[error];
    if (v.empty() != e.empty()) {
      fail_input("catalogue '{}' has a '{}' column ('{}') but no '{}' column; a {} needs its {}", path_,
                 kConstraintNames[v.empty() ? error : value], v.empty() ? e : v,
                 kConstraintNames[v.empty() ? value : error], kConstraintNames[value],
                 value == kParallax ? "error (mas)" : "width (mag)");
    }
  }
  int truth_present = 0;
  for (const auto& c : truth_cols) truth_present += c.empty() ? 0 : 1;
  if (truth_present > 0 && truth_present < 5) {
    fail_input("catalogue '{}' has only {} of the 5 truth columns true_teff, true_logg, true_mh, true_av, true_rv",
               path_, truth_present);
  }
  if (truth_present == 5) out.truth_columns.assign(std::begin(truth_cols), std::end(truth_cols));
}

}  // namespace

CatalogReader CatalogReader::open(const std::string& path, const KnownFilters& known_filters,
                                  const CatalogOptions& options) {
  if (!(options.error_floor >= 0) || !std::isfinite(options.error_floor)) {
    fail_input("error floor = {} must be a finite number >= 0 (mag)", options.error_floor);
  }
  check_compatible(options.presets);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->source = open_source(path, impl->format);
  const Source& src = *impl->source;
  const bool hdf5 = impl->format == CatalogFormat::Hdf5;

  // impl->options, not options: the resolved bands point at its presets.
  ColumnResolver resolver(path, known_filters, impl->options, src.columns(), src.case_insensitive());
  resolver.map_explicit_columns();
  resolver.map_explicit_fluxes();
  resolver.map_preset_bands();
  resolver.map_preset_positions();
  resolver.skip_preset_columns();
  static const std::vector<std::pair<std::string, std::string>> kNoOthers;
  auto columns =
      resolver.classify(/*registry_order=*/hdf5, hdf5 ? static_cast<const Hdf5Source&>(src).others() : kNoOthers);
  impl->filters = std::move(columns.filters);
  impl->offsets = std::move(columns.offsets);
  impl->sources = std::move(columns.sources);
  impl->id_column = columns.id_column;
  impl->ra_column = columns.ra_column;
  impl->dec_column = columns.dec_column;
  for (int c = 0; c < kConstraintCount; ++c) impl->constraint_columns[c] = columns.constraint_columns[c];
  if (options.gaia_zero_point) {
    std::vector<std::string> missing;
    if (impl->constraint_columns[kParallax].empty()) missing.push_back("parallax (with parallax_err)");
    const auto g = std::find(impl->filters.begin(), impl->filters.end(), "Gaia_G");
    if (g == impl->filters.end()) missing.push_back("the Gaia_G band (phot_g_mean_flux or phot_g_mean_mag)");
    impl->gaia_g = g == impl->filters.end() ? -1 : static_cast<int>(g - impl->filters.begin());
    for (int c = 0; c < kGaiaZeroPointInputs; ++c) {
      impl->zero_point_columns[c] = columns.zero_point_columns[c];
      if (columns.zero_point_columns[c].empty()) missing.push_back(kGaiaZeroPointColumns[c]);
    }
    if (!missing.empty()) {
      fail_input(
          "catalogue '{}': --parallax-zero-point lindegren2021 needs the columns {}; it lacks {} (map other names "
          "with --columns, or give the zero point as a number in mas)",
          path, "parallax, Gaia_G, nu_eff_used_in_astrometry, pseudocolour, ecl_lat and astrometric_params_solved",
          fmt::join(missing, ", "));
    }
  }
  impl->truth_columns = std::move(columns.truth_columns);
  impl->ignored = std::move(columns.ignored);
  impl->skipped = std::move(columns.skipped);
  impl->truth_matrix = src.has_truth_matrix();

  std::vector<std::string> numeric;
  for (const auto& s : impl->sources) numeric.push_back(s.value_column);
  for (const auto& s : impl->sources) numeric.push_back(s.error_column);
  numeric.insert(numeric.end(), impl->truth_columns.begin(), impl->truth_columns.end());
  if (!impl->ra_column.empty()) {
    numeric.push_back(impl->ra_column);
    numeric.push_back(impl->dec_column);
  }
  for (const auto& c : impl->constraint_columns)
    if (!c.empty()) numeric.push_back(c);
  for (const auto& c : impl->zero_point_columns)
    if (!c.empty()) numeric.push_back(c);
  src.validate(numeric);
  return CatalogReader(std::move(impl));
}

const std::string& CatalogReader::path() const { return impl_->path; }
CatalogFormat CatalogReader::format() const { return impl_->format; }
std::uint64_t CatalogReader::rows() const { return impl_->source->rows(); }
const std::vector<std::string>& CatalogReader::filters() const { return impl_->filters; }
const std::vector<double>& CatalogReader::offsets() const { return impl_->offsets; }
bool CatalogReader::has_truth() const { return impl_->truth_matrix || !impl_->truth_columns.empty(); }
bool CatalogReader::has_id() const { return !impl_->id_column.empty(); }
bool CatalogReader::has_position() const { return !impl_->ra_column.empty(); }
bool CatalogReader::has_constraints() const {
  return std::any_of(std::begin(impl_->constraint_columns), std::end(impl_->constraint_columns),
                     [](const std::string& c) { return !c.empty(); });
}
bool CatalogReader::has_constraint(ConstraintColumn c) const { return !impl_->constraint_columns[c].empty(); }
const std::vector<std::string>& CatalogReader::ignored_columns() const { return impl_->ignored; }
const std::vector<std::string>& CatalogReader::skipped_columns() const { return impl_->skipped; }

void CatalogReader::read_constraints(std::uint64_t row0, std::uint64_t n, CatalogBlock& block) const {
  const Impl& m = *impl_;
  constexpr auto K = static_cast<std::size_t>(kConstraintCount);
  block.constraints.assign(n * K, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> col(n);
  for (std::size_t c = 0; c < K; ++c) {
    if (m.constraint_columns[c].empty()) continue;
    m.source->read_numeric(m.constraint_columns[c], row0, n, col.data());
    for (std::uint64_t r = 0; r < n; ++r) block.constraints[r * K + c] = col[r];
  }
  // A value with an unusable error or width drops the pair; a bad bound drops the bound.
  auto bad_scale = [](double e) { return !std::isfinite(e) || !(e > 0); };
  for (std::uint64_t r = 0; r < n; ++r) {
    double* row = block.constraints.data() + r * K;
    for (const auto& [value, error] : kConstraintPairs) {
      if (!std::isfinite(row[value]) && !std::isfinite(row[error])) continue;  // not given
      if (!std::isfinite(row[value]) || bad_scale(row[error])) {
        ++block.constraints_dropped;
        row[value] = row[error] = std::numeric_limits<double>::quiet_NaN();
      }
    }
    if (!std::isnan(row[kAvMax]) && bad_scale(row[kAvMax])) {
      ++block.constraints_dropped;
      row[kAvMax] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  if (m.options.gaia_zero_point) apply_gaia_zero_point(row0, n, block);
}

// Lindegren et al. (2021): the parallax minus its zero point, from the row's G (the
// band's catalogue magnitude, before any offset) and the archive inputs; a row whose
// zero point is NaN loses its parallax (counted).
void CatalogReader::apply_gaia_zero_point(std::uint64_t row0, std::uint64_t n, CatalogBlock& block) const {
  const Impl& m = *impl_;
  constexpr auto K = static_cast<std::size_t>(kConstraintCount);
  std::vector<double> inputs[kGaiaZeroPointInputs];
  for (int c = 0; c < kGaiaZeroPointInputs; ++c) {
    inputs[c].resize(n);
    m.source->read_numeric(m.zero_point_columns[c], row0, n, inputs[c].data());
  }
  const std::size_t nf = m.filters.size(), g = static_cast<std::size_t>(m.gaia_g);
  for (std::uint64_t r = 0; r < n; ++r) {
    double* row = block.constraints.data() + r * K;
    if (!std::isfinite(row[kParallax])) continue;
    const double mag = static_cast<double>(block.mag[r * nf + g]) - m.offsets[g];
    const double zp = gaia_parallax_zero_point(mag, inputs[0][r], inputs[1][r], inputs[2][r], inputs[3][r]);
    if (std::isfinite(zp)) {
      row[kParallax] -= zp;
    } else {
      ++block.constraints_dropped;
      row[kParallax] = row[kParallaxErr] = std::numeric_limits<double>::quiet_NaN();
    }
  }
}

CatalogBlock CatalogReader::read(std::uint64_t row0, std::uint64_t n) const {
  const Impl& m = *impl_;
  const Source& src = *m.source;
  if (row0 > src.rows() || n > src.rows() - row0) {
    fail_io("catalogue '{}': rows [{}, {}) are out of range (it has {} rows)", m.path, row0, row0 + n, src.rows());
  }
  const std::size_t nf = m.filters.size();
  CatalogBlock block;
  block.row0 = row0;
  block.rows = n;
  block.mag.assign(n * nf, std::numeric_limits<float>::quiet_NaN());
  block.err.assign(n * nf, std::numeric_limits<float>::quiet_NaN());
  block.dropped_unusable.assign(nf, 0);
  block.missing.assign(nf, 0);
  block.upper_limits.assign(nf, 0);
  block.nonpositive_flux.assign(nf, 0);
  std::vector<double> value(n), error(n);
  for (std::size_t f = 0; f < nf; ++f) {
    const BandSource& s = m.sources[f];
    src.read_numeric(s.value_column, row0, n, value.data());
    src.read_numeric(s.error_column, row0, n, error.data());
    for (std::uint64_t r = 0; r < n; ++r) {
      const double v = value[r];
      double e = error[r];
      if (m.is_missing(s, v)) {
        ++block.missing[f];
        continue;
      }
      if (s.flux && !(v > 0)) {
        ++block.nonpositive_flux[f];
        continue;
      }
      if (s.preset && s.preset->upper_limits && (!std::isfinite(e) || m.preset_missing(s, e))) {
        ++block.upper_limits[f];
        continue;
      }
      double mag = v;
      if (s.preset && e > s.preset->error_flags_above) {
        e = std::numeric_limits<double>::quiet_NaN();  // a flag, not an error: unusable below
      } else if (s.flux && std::isfinite(e) && e > 0) {
        mag = s.zero_point - 2.5 * std::log10(v);
        e = std::hypot(kPogson * e / v, s.zero_point_error);
      }
      // A non-positive or non-finite error, or a magnitude no star can have (outside
      // [kMagnitudeMin, kMagnitudeMax]), makes the band unusable: dropped and counted.
      if (!std::isfinite(e) || !(e > 0) || !(mag >= kMagnitudeMin && mag <= kMagnitudeMax)) {
        ++block.dropped_unusable[f];
        continue;
      }
      block.mag[r * nf + f] = static_cast<float>(mag + m.offsets[f]);
      block.err[r * nf + f] = static_cast<float>(std::max(e, m.options.error_floor));
    }
  }
  if (!m.id_column.empty()) {
    block.id = src.read_text(m.id_column, row0, n);
    // Ids are stored fixed-length (the longest sets every row's width): a runaway field
    // must not multiply the output, and a NUL byte would truncate the id in every reader.
    for (std::uint64_t r = 0; r < n; ++r) {
      const std::string& id = block.id[r];
      if (id.size() > kIdMaxBytes) {
        fail_input("catalogue '{}': the id of row {} (column '{}') is {} bytes long; ids are limited to {} bytes",
                   m.path, row0 + r, m.id_column, id.size(), kIdMaxBytes);
      }
      if (id.find('\0') != std::string::npos) {
        fail_input("catalogue '{}': the id of row {} (column '{}') contains a NUL byte", m.path, row0 + r, m.id_column);
      }
    }
  }
  if (!m.ra_column.empty()) {
    block.ra.resize(n);
    block.dec.resize(n);
    src.read_numeric(m.ra_column, row0, n, block.ra.data());
    src.read_numeric(m.dec_column, row0, n, block.dec.data());
  }
  if (has_constraints()) read_constraints(row0, n, block);
  if (m.truth_matrix) {
    block.truth.resize(n * 5);
    src.read_truth_matrix(row0, n, block.truth.data());
  } else if (!m.truth_columns.empty()) {
    block.truth.resize(n * 5);
    std::vector<double> col(n);
    for (int p = 0; p < 5; ++p) {
      src.read_numeric(m.truth_columns[static_cast<std::size_t>(p)], row0, n, col.data());
      for (std::uint64_t r = 0; r < n; ++r) block.truth[r * 5 + static_cast<std::size_t>(p)] = col[r];
    }
  }
  return block;
}

}  // namespace irisml
