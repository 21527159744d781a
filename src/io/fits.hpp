// A small RAII layer over cfitsio: open a FITS file, read header keys, walk to
// a binary-table HDU and read whole columns by name. Writing is limited to
// what tests and small tools need (header keys, a binary table, whole columns).
//
// Every cfitsio call is checked; a failure throws IoError carrying the
// expression, file:line, the FITS file concerned and cfitsio's own status text
// and error-message stack. cfitsio's headers stay out of this one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace irisml::fits {

// One column of a table to create: name, TFORM (e.g. "1E", "1D", "1J", "16A"),
// an optional unit (TUNITn) and description (TCOMMn).
struct ColumnSpec {
  std::string name;
  std::string form;
  std::string unit;
  std::string comment = "";
};

class File {
 public:
  // Opens an existing file read-only (the name is taken literally: no cfitsio
  // extended-filename syntax). Throws IoError naming the file.
  static File open(const std::string& path);
  // Creates a new file with an empty primary HDU, replacing any existing one.
  static File create(const std::string& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();  // closes; a close failure is printed, never thrown

  const std::string& path() const { return path_; }

  // Number of HDUs; HDU 0 is the primary, 1 the first extension.
  int hdu_count() const;
  // Moves to HDU `index` (0-based). Throws IoError if it does not exist.
  void move_to_hdu(int index);
  int current_hdu() const { return hdu_; }
  // True if the current HDU is a binary or ASCII table.
  bool is_table() const;

  // Header keys of the current HDU.
  bool has_key(const std::string& key) const;
  double key_double(const std::string& key) const;
  std::int64_t key_int(const std::string& key) const;
  std::string key_string(const std::string& key) const;

  // Table access on the current HDU (IoError if it is not a table).
  std::int64_t num_rows() const;
  // Column names (TTYPEn) in order.
  std::vector<std::string> column_names() const;
  // Case-insensitive exact match.
  bool has_column(const std::string& name) const;
  // Whole scalar columns, converted by cfitsio to the requested type. A missing
  // column throws IoError naming the file, the column and the columns present;
  // a vector column (repeat > 1) is refused.
  std::vector<float> read_float_column(const std::string& name) const;
  std::vector<double> read_double_column(const std::string& name) const;
  std::vector<std::int64_t> read_int_column(const std::string& name) const;
  // A logical column (TFORM "L"): 1 true, 0 false or undefined.
  std::vector<char> read_logical_column(const std::string& name) const;
  // Character columns (TFORM rA): trailing blanks removed.
  std::vector<std::string> read_string_column(const std::string& name) const;

  // Writing (files made by create()).
  void write_key(const std::string& key, double value, const std::string& comment = "");
  void write_key(const std::string& key, std::int64_t value, const std::string& comment = "");
  void write_key(const std::string& key, const std::string& value, const std::string& comment = "");
  // A string of any length (the CONTINUE long-string convention, announced by LONGSTRN).
  void write_long_key(const std::string& key, const std::string& value, const std::string& comment = "");
  void write_comment(const std::string& text);
  // Appends a binary-table HDU with `rows` rows and makes it current.
  void create_table(const std::string& extname, const std::vector<ColumnSpec>& columns, std::int64_t rows);
  void write_column(const std::string& name, const std::vector<float>& values);
  void write_column(const std::string& name, const std::vector<double>& values);
  void write_column(const std::string& name, const std::vector<std::string>& values);
  // Rows [first_row, first_row + values.size()) of a column (0-based first_row), for tables
  // written block by block. Logical columns (TFORM "1L") take 0/1 bytes.
  void write_rows(const std::string& name, std::int64_t first_row, const std::vector<float>& values);
  void write_rows(const std::string& name, std::int64_t first_row, const std::vector<double>& values);
  void write_rows(const std::string& name, std::int64_t first_row, const std::vector<std::int32_t>& values);
  void write_rows(const std::string& name, std::int64_t first_row, const std::vector<std::int64_t>& values);
  void write_rows(const std::string& name, std::int64_t first_row, const std::vector<std::string>& values);
  void write_logical_rows(const std::string& name, std::int64_t first_row, const std::vector<std::uint8_t>& values);
  // Rows per write that cfitsio's buffers hold (fits_get_rowsize): writing a table column
  // by column in chunks of this many rows avoids re-reading the table once per column.
  std::int64_t optimal_rows() const;

  // Flushes and closes; throws on failure. The destructor also closes.
  void close();

 private:
  File(std::string path, void* handle);
  void* handle() const;
  // 1-based column number; throws IoError listing the columns present.
  int column_number(const std::string& name) const;
  std::int64_t column_repeat(int column, int* typecode) const;
  // fits_write_col of `n` values of cfitsio type `type` from `data`, checking the row range.
  void write_typed_rows(const std::string& name, std::int64_t first_row, int type, std::int64_t n, void* data);

  std::string path_;
  void* fptr_ = nullptr;  // fitsfile*
  int hdu_ = 0;
  bool long_strings_announced_ = false;  // LONGSTRN written in the current HDU
  mutable int columns_hdu_ = -1;         // HDU whose names columns_ caches (-1: none)
  mutable std::vector<std::string> columns_;
};

}  // namespace irisml::fits
