#include "io/fits.hpp"

#ifndef IRISML_NO_FITS  // builds without cfitsio compile fits_unavailable.cpp instead

#include <fitsio.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <utility>

#include "core/error.hpp"
#include "core/text.hpp"

namespace irisml::fits {
namespace {

// cfitsio's status text plus its error-message stack (oldest first); clears the stack.
std::string fits_message(int status) {
  char text[FLEN_STATUS] = {};
  fits_get_errstatus(status, text);
  std::string out = fmt::format("status {} ({})", status, text);
  char message[FLEN_ERRMSG] = {};
  std::string stack;
  while (fits_read_errmsg(message)) {
    if (!stack.empty()) stack += "; ";
    stack += message;
  }
  fits_clear_errmsg();
  if (!stack.empty()) out += ": " + stack;
  return out;
}

[[noreturn]] void raise(int status, const char* expr, const char* file, int line, const std::string& path,
                        const std::string& context) {
  throw IoError(fmt::format("FITS error in '{}': {}: `{}` failed at {}:{}: {}", path, context, expr, file, line,
                            fits_message(status)));
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

// Runs a cfitsio call that reports through `int* status` (spelled `&status`
// inside `expr`); a non-zero status throws IoError with the expression,
// file:line, this file's path and cfitsio's message stack.
#define IRISML_FITS_CHECK(expr, context)                                                         \
  do {                                                                                           \
    int status = 0;                                                                              \
    (void)(expr);                                                                                \
    if (status != 0) ::irisml::fits::raise(status, #expr, __FILE__, __LINE__, path_, (context)); \
  } while (0)

File::File(std::string path, void* handle) : path_(std::move(path)), fptr_(handle) {}

File::File(File&& other) noexcept
    : path_(std::move(other.path_)),
      fptr_(std::exchange(other.fptr_, nullptr)),
      hdu_(other.hdu_),
      columns_hdu_(other.columns_hdu_),
      columns_(std::move(other.columns_)) {}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fptr_) {
      int status = 0;
      fits_close_file(static_cast<fitsfile*>(fptr_), &status);
      if (status) fits_clear_errmsg();
    }
    path_ = std::move(other.path_);
    fptr_ = std::exchange(other.fptr_, nullptr);
    hdu_ = other.hdu_;
    columns_hdu_ = other.columns_hdu_;
    columns_ = std::move(other.columns_);
  }
  return *this;
}

File::~File() {
  if (!fptr_) return;
  int status = 0;
  fits_close_file(static_cast<fitsfile*>(fptr_), &status);
  if (status) {
    std::fprintf(stderr, "irisml: warning: closing FITS file '%s' failed: %s\n", path_.c_str(),
                 fits_message(status).c_str());
  }
}

void* File::handle() const {
  if (!fptr_) fail_io("FITS file '{}' is closed", path_);
  return fptr_;
}

File File::open(const std::string& path) {
  fitsfile* fptr = nullptr;
  int status = 0;
  fits_open_diskfile(&fptr, path.c_str(), READONLY, &status);
  if (status) {
    if (fptr) {
      int ignored = 0;
      fits_close_file(fptr, &ignored);
    }
    fail_io("cannot open FITS file '{}': {}", path, fits_message(status));
  }
  return File(path, fptr);
}

File File::create(const std::string& path) {
  std::remove(path.c_str());
  fitsfile* fptr = nullptr;
  int status = 0;
  fits_create_diskfile(&fptr, path.c_str(), &status);
  if (status) fail_io("cannot create FITS file '{}': {}", path, fits_message(status));
  File file(path, fptr);
  fits_create_img(fptr, BYTE_IMG, 0, nullptr, &status);
  if (status)
    raise(status, "fits_create_img(fptr, BYTE_IMG, 0, nullptr, &status)", __FILE__, __LINE__, path,
          "creating the primary HDU");
  return file;
}

void File::close() {
  if (!fptr_) return;
  fitsfile* f = static_cast<fitsfile*>(std::exchange(fptr_, nullptr));
  IRISML_FITS_CHECK(fits_close_file(f, &status), "closing");
}

int File::hdu_count() const {
  int n = 0;
  IRISML_FITS_CHECK(fits_get_num_hdus(static_cast<fitsfile*>(handle()), &n, &status), "counting HDUs");
  return n;
}

void File::move_to_hdu(int index) {
  int count = hdu_count();
  if (index < 0 || index >= count) {
    fail_io("HDU {} does not exist in FITS file '{}' (it has {} HDU{}, numbered from 0)", index, path_, count,
            count == 1 ? "" : "s");
  }
  int type = 0;
  IRISML_FITS_CHECK(fits_movabs_hdu(static_cast<fitsfile*>(handle()), index + 1, &type, &status),
                    fmt::format("moving to HDU {}", index));
  hdu_ = index;
  columns_hdu_ = -1;
}

bool File::is_table() const {
  int type = 0;
  IRISML_FITS_CHECK(fits_get_hdu_type(static_cast<fitsfile*>(handle()), &type, &status), "reading the HDU type");
  return type == BINARY_TBL || type == ASCII_TBL;
}

bool File::has_key(const std::string& key) const {
  char value[FLEN_VALUE] = {};
  int status = 0;
  fits_read_keyword(static_cast<fitsfile*>(handle()), key.c_str(), value, nullptr, &status);
  if (status == KEY_NO_EXIST) {
    fits_clear_errmsg();
    return false;
  }
  if (status) raise(status, "fits_read_keyword", __FILE__, __LINE__, path_, "looking for key " + key);
  return true;
}

namespace {
std::string key_context(const std::string& key, int hdu) { return fmt::format("reading key {} of HDU {}", key, hdu); }
}  // namespace

double File::key_double(const std::string& key) const {
  double value = 0;
  IRISML_FITS_CHECK(fits_read_key(static_cast<fitsfile*>(handle()), TDOUBLE, key.c_str(), &value, nullptr, &status),
                    key_context(key, hdu_));
  return value;
}

std::int64_t File::key_int(const std::string& key) const {
  LONGLONG value = 0;
  IRISML_FITS_CHECK(fits_read_key(static_cast<fitsfile*>(handle()), TLONGLONG, key.c_str(), &value, nullptr, &status),
                    key_context(key, hdu_));
  return static_cast<std::int64_t>(value);
}

std::string File::key_string(const std::string& key) const {
  char* value = nullptr;
  IRISML_FITS_CHECK(fits_read_key_longstr(static_cast<fitsfile*>(handle()), key.c_str(), &value, nullptr, &status),
                    key_context(key, hdu_));
  std::string out = value ? value : "";
  if (value) {
    int ignored = 0;
    fits_free_memory(value, &ignored);
  }
  return rtrim(out);
}

std::int64_t File::num_rows() const {
  if (!is_table()) fail_io("HDU {} of FITS file '{}' is not a table", hdu_, path_);
  LONGLONG rows = 0;
  IRISML_FITS_CHECK(fits_get_num_rowsll(static_cast<fitsfile*>(handle()), &rows, &status), "counting rows");
  return static_cast<std::int64_t>(rows);
}

std::vector<std::string> File::column_names() const {
  if (columns_hdu_ == hdu_) return columns_;
  if (!is_table()) fail_io("HDU {} of FITS file '{}' is not a table", hdu_, path_);
  int ncols = 0;
  IRISML_FITS_CHECK(fits_get_num_cols(static_cast<fitsfile*>(handle()), &ncols, &status), "counting columns");
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(ncols));
  for (int i = 1; i <= ncols; ++i) {
    std::string key = fmt::format("TTYPE{}", i);
    names.push_back(has_key(key) ? key_string(key) : std::string());
  }
  columns_ = names;
  columns_hdu_ = hdu_;
  return names;
}

bool File::has_column(const std::string& name) const {
  auto names = column_names();
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return iequals(n, name); });
}

int File::column_number(const std::string& name) const {
  auto names = column_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (iequals(names[i], name)) return static_cast<int>(i) + 1;
  }
  fail_io("column '{}' is missing from HDU {} of FITS file '{}'; columns present: {}", name, hdu_, path_,
          names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", ")));
}

std::int64_t File::column_repeat(int column, int* typecode) const {
  LONGLONG repeat = 0, width = 0;
  IRISML_FITS_CHECK(fits_get_coltypell(static_cast<fitsfile*>(handle()), column, typecode, &repeat, &width, &status),
                    fmt::format("reading the type of column {}", column));
  return static_cast<std::int64_t>(repeat);
}

namespace {
template <typename T>
int fits_datatype();
template <>
int fits_datatype<float>() {
  return TFLOAT;
}
template <>
int fits_datatype<double>() {
  return TDOUBLE;
}
template <>
int fits_datatype<std::int64_t>() {
  return TLONGLONG;
}
template <>
int fits_datatype<char>() {
  return TLOGICAL;
}
}  // namespace

#define IRISML_FITS_READ_NUMERIC(T, FN)                                                                                \
  std::vector<T> File::FN(const std::string& name) const {                                                             \
    int col = column_number(name);                                                                                     \
    int typecode = 0;                                                                                                  \
    std::int64_t repeat = column_repeat(col, &typecode);                                                               \
    if (typecode == TSTRING) fail_io("column '{}' of FITS file '{}' holds text, not numbers", name, path_);            \
    if (repeat != 1) {                                                                                                 \
      fail_io("column '{}' of FITS file '{}' is a vector column (repeat {}); only scalar columns are supported", name, \
              path_, repeat);                                                                                          \
    }                                                                                                                  \
    std::int64_t rows = num_rows();                                                                                    \
    std::vector<T> out(static_cast<std::size_t>(rows));                                                                \
    if (rows == 0) return out;                                                                                         \
    T nulval = 0;                                                                                                      \
    int anynul = 0;                                                                                                    \
    IRISML_FITS_CHECK(fits_read_col(static_cast<fitsfile*>(handle()), fits_datatype<T>(), col, 1, 1, rows, &nulval,    \
                                    out.data(), &anynul, &status),                                                     \
                      "reading column " + name);                                                                       \
    return out;                                                                                                        \
  }

IRISML_FITS_READ_NUMERIC(float, read_float_column)
IRISML_FITS_READ_NUMERIC(double, read_double_column)
IRISML_FITS_READ_NUMERIC(std::int64_t, read_int_column)
IRISML_FITS_READ_NUMERIC(char, read_logical_column)
#undef IRISML_FITS_READ_NUMERIC

std::vector<std::string> File::read_string_column(const std::string& name) const {
  int col = column_number(name);
  int typecode = 0;
  std::int64_t width = column_repeat(col, &typecode);
  if (typecode != TSTRING) fail_io("column '{}' of FITS file '{}' is numeric, not text", name, path_);
  std::int64_t rows = num_rows();
  std::vector<std::string> out;
  if (rows == 0) return out;
  const std::size_t stride = static_cast<std::size_t>(width) + 1;
  std::vector<char> buffer(stride * static_cast<std::size_t>(rows), '\0');
  std::vector<char*> pointers(static_cast<std::size_t>(rows));
  for (std::size_t i = 0; i < pointers.size(); ++i) pointers[i] = &buffer[i * stride];
  char nulstr[] = "";
  int anynul = 0;
  IRISML_FITS_CHECK(fits_read_col(static_cast<fitsfile*>(handle()), TSTRING, col, 1, 1, rows, nulstr, pointers.data(),
                                  &anynul, &status),
                    "reading column " + name);
  out.reserve(pointers.size());
  for (char* p : pointers) out.push_back(rtrim(std::string(p)));
  return out;
}

void File::write_key(const std::string& key, double value, const std::string& comment) {
  IRISML_FITS_CHECK(fits_update_key(static_cast<fitsfile*>(handle()), TDOUBLE, key.c_str(), &value,
                                    comment.empty() ? nullptr : comment.c_str(), &status),
                    "writing key " + key);
}

void File::write_key(const std::string& key, std::int64_t value, const std::string& comment) {
  LONGLONG v = value;
  IRISML_FITS_CHECK(fits_update_key(static_cast<fitsfile*>(handle()), TLONGLONG, key.c_str(), &v,
                                    comment.empty() ? nullptr : comment.c_str(), &status),
                    "writing key " + key);
}

void File::write_key(const std::string& key, const std::string& value, const std::string& comment) {
  std::string v = value;
  IRISML_FITS_CHECK(fits_update_key(static_cast<fitsfile*>(handle()), TSTRING, key.c_str(), v.data(),
                                    comment.empty() ? nullptr : comment.c_str(), &status),
                    "writing key " + key);
}

std::int64_t File::optimal_rows() const {
  long rows = 0;
  IRISML_FITS_CHECK(fits_get_rowsize(static_cast<fitsfile*>(handle()), &rows, &status), "sizing row chunks");
  return std::max<std::int64_t>(1, rows);
}

void File::write_long_key(const std::string& key, const std::string& value, const std::string& comment) {
  fitsfile* f = static_cast<fitsfile*>(handle());
  if (!long_strings_announced_) {
    IRISML_FITS_CHECK(fits_write_key_longwarn(f, &status), "writing LONGSTRN");
    long_strings_announced_ = true;
  }
  std::string v = value;
  IRISML_FITS_CHECK(
      fits_update_key_longstr(f, key.c_str(), v.data(), comment.empty() ? nullptr : comment.c_str(), &status),
      "writing key " + key);
}

void File::write_comment(const std::string& text) {
  IRISML_FITS_CHECK(fits_write_comment(static_cast<fitsfile*>(handle()), text.c_str(), &status), "writing a comment");
}

void File::create_table(const std::string& extname, const std::vector<ColumnSpec>& columns, std::int64_t rows) {
  std::vector<std::string> names, forms, units;
  for (const auto& c : columns) {
    names.push_back(c.name);
    forms.push_back(c.form);
    units.push_back(c.unit);
  }
  std::vector<char*> ttype, tform, tunit;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    ttype.push_back(names[i].data());
    tform.push_back(forms[i].data());
    tunit.push_back(units[i].data());
  }
  std::string ext = extname;
  IRISML_FITS_CHECK(
      fits_create_tbl(static_cast<fitsfile*>(handle()), BINARY_TBL, rows, static_cast<int>(columns.size()),
                      ttype.data(), tform.data(), tunit.data(), ext.empty() ? nullptr : ext.data(), &status),
      "creating table " + extname);
  int number = 0;
  fits_get_hdu_num(static_cast<fitsfile*>(handle()), &number);
  hdu_ = number - 1;
  columns_hdu_ = -1;
  long_strings_announced_ = false;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (!columns[i].comment.empty()) write_long_key(fmt::format("TCOMM{}", i + 1), columns[i].comment);
  }
}

void File::write_typed_rows(const std::string& name, std::int64_t first_row, int type, std::int64_t n, void* data) {
  const int col = column_number(name);
  const std::int64_t rows = num_rows();
  if (first_row < 0 || first_row + n > rows) {
    fail_io("writing rows {}..{} of column '{}' of FITS file '{}': the table has {} rows", first_row, first_row + n,
            name, path_, rows);
  }
  if (n == 0) return;
  IRISML_FITS_CHECK(fits_write_col(static_cast<fitsfile*>(handle()), type, col, first_row + 1, 1,
                                   static_cast<LONGLONG>(n), data, &status),
                    "writing column " + name);
}

void File::write_rows(const std::string& name, std::int64_t first_row, const std::vector<float>& values) {
  std::vector<float> copy = values;  // cfitsio takes non-const buffers
  write_typed_rows(name, first_row, TFLOAT, static_cast<std::int64_t>(copy.size()), copy.data());
}

void File::write_rows(const std::string& name, std::int64_t first_row, const std::vector<double>& values) {
  std::vector<double> copy = values;
  write_typed_rows(name, first_row, TDOUBLE, static_cast<std::int64_t>(copy.size()), copy.data());
}

void File::write_rows(const std::string& name, std::int64_t first_row, const std::vector<std::int32_t>& values) {
  static_assert(sizeof(int) == sizeof(std::int32_t));
  std::vector<int> copy(values.begin(), values.end());
  write_typed_rows(name, first_row, TINT, static_cast<std::int64_t>(copy.size()), copy.data());
}

void File::write_rows(const std::string& name, std::int64_t first_row, const std::vector<std::int64_t>& values) {
  std::vector<LONGLONG> copy(values.begin(), values.end());
  write_typed_rows(name, first_row, TLONGLONG, static_cast<std::int64_t>(copy.size()), copy.data());
}

void File::write_rows(const std::string& name, std::int64_t first_row, const std::vector<std::string>& values) {
  // NUL-padded, as the standard allows and astropy writes: cfitsio's own string writes pad
  // with blanks, which readers such as astropy keep as part of the value.
  int typecode = 0;
  const std::int64_t width = column_repeat(column_number(name), &typecode);
  if (typecode != TSTRING) fail_io("column '{}' of FITS file '{}' is not a character column", name, path_);
  std::vector<unsigned char> bytes(values.size() * static_cast<std::size_t>(width), 0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::copy_n(values[i].data(), std::min<std::size_t>(values[i].size(), static_cast<std::size_t>(width)),
                bytes.begin() + static_cast<std::ptrdiff_t>(i * static_cast<std::size_t>(width)));
  }
  const auto rows = static_cast<std::int64_t>(values.size());
  if (first_row < 0 || first_row + rows > num_rows()) {
    fail_io("writing rows {}..{} of column '{}' of FITS file '{}': the table has {} rows", first_row, first_row + rows,
            name, path_, num_rows());
  }
  if (bytes.empty()) return;
  IRISML_FITS_CHECK(fits_write_col(static_cast<fitsfile*>(handle()), TBYTE, column_number(name), first_row + 1, 1,
                                   static_cast<LONGLONG>(bytes.size()), bytes.data(), &status),
                    "writing column " + name);
}

void File::write_logical_rows(const std::string& name, std::int64_t first_row,
                              const std::vector<std::uint8_t>& values) {
  std::vector<char> copy(values.begin(), values.end());
  write_typed_rows(name, first_row, TLOGICAL, static_cast<std::int64_t>(copy.size()), copy.data());
}

namespace {
void check_length(const std::string& path, const std::string& name, std::size_t given, std::int64_t rows) {
  if (static_cast<std::int64_t>(given) != rows) {
    fail_io("writing column '{}' of FITS file '{}': {} values for a table of {} rows", name, path, given, rows);
  }
}
}  // namespace

void File::write_column(const std::string& name, const std::vector<float>& values) {
  check_length(path_, name, values.size(), num_rows());
  write_rows(name, 0, values);
}

void File::write_column(const std::string& name, const std::vector<double>& values) {
  check_length(path_, name, values.size(), num_rows());
  write_rows(name, 0, values);
}

void File::write_column(const std::string& name, const std::vector<std::string>& values) {
  check_length(path_, name, values.size(), num_rows());
  write_rows(name, 0, values);
}

}  // namespace irisml::fits

#endif  // IRISML_NO_FITS
