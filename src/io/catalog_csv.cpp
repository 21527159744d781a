#include "io/catalog_source.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "io/text_lines.hpp"

namespace irisml {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

}  // namespace

std::unique_ptr<CatalogReader::Source> open_csv_catalog(const std::string& path) {
  return std::make_unique<CsvSource>(path);
}

}  // namespace irisml
