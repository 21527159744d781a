// fits::File for a build configured with -DIRISML_WITH_FITS=OFF (no cfitsio on the
// machine, e.g. a GPU node that trains and samples from HDF5 only). Opening or creating
// a FITS file is an error naming the file and the way to get FITS support; no File
// object can exist, so the other members are never reached.
#include "io/fits.hpp"

#ifdef IRISML_NO_FITS

#include "core/error.hpp"

namespace irisml::fits {
namespace {

[[noreturn]] void unavailable(const std::string& path) {
  fail_input(
      "cannot read or write FITS file '{}': this irisml was built without cfitsio "
      "(-DIRISML_WITH_FITS=OFF); install libcfitsio-dev and rebuild with -DIRISML_WITH_FITS=ON, "
      "or give the data as HDF5 or CSV",
      path);
}

}  // namespace

File::File(std::string path, void* handle) : path_(std::move(path)), fptr_(handle) { unavailable(path_); }
File::File(File&& other) noexcept : path_(std::move(other.path_)) {}
File& File::operator=(File&& other) noexcept {
  path_ = std::move(other.path_);
  return *this;
}
File::~File() = default;
File File::open(const std::string& path) { unavailable(path); }
File File::create(const std::string& path) { unavailable(path); }
void File::close() {}
void* File::handle() const { unavailable(path_); }
int File::hdu_count() const { unavailable(path_); }
void File::move_to_hdu(int) { unavailable(path_); }
bool File::is_table() const { unavailable(path_); }
bool File::has_key(const std::string&) const { unavailable(path_); }
double File::key_double(const std::string&) const { unavailable(path_); }
std::int64_t File::key_int(const std::string&) const { unavailable(path_); }
std::string File::key_string(const std::string&) const { unavailable(path_); }
std::int64_t File::num_rows() const { unavailable(path_); }
std::vector<std::string> File::column_names() const { unavailable(path_); }
bool File::has_column(const std::string&) const { unavailable(path_); }
int File::column_number(const std::string&) const { unavailable(path_); }
std::int64_t File::column_repeat(int, int*) const { unavailable(path_); }
std::vector<float> File::read_float_column(const std::string&) const { unavailable(path_); }
std::vector<double> File::read_double_column(const std::string&) const { unavailable(path_); }
std::vector<std::int64_t> File::read_int_column(const std::string&) const { unavailable(path_); }
std::vector<char> File::read_logical_column(const std::string&) const { unavailable(path_); }
std::vector<std::string> File::read_string_column(const std::string&) const { unavailable(path_); }
void File::write_key(const std::string&, double, const std::string&) { unavailable(path_); }
void File::write_key(const std::string&, std::int64_t, const std::string&) { unavailable(path_); }
void File::write_key(const std::string&, const std::string&, const std::string&) { unavailable(path_); }
void File::write_long_key(const std::string&, const std::string&, const std::string&) { unavailable(path_); }
void File::write_comment(const std::string&) { unavailable(path_); }
std::int64_t File::optimal_rows() const { unavailable(path_); }
void File::create_table(const std::string&, const std::vector<ColumnSpec>&, std::int64_t) { unavailable(path_); }
void File::write_column(const std::string&, const std::vector<float>&) { unavailable(path_); }
void File::write_column(const std::string&, const std::vector<double>&) { unavailable(path_); }
void File::write_column(const std::string&, const std::vector<std::string>&) { unavailable(path_); }
void File::write_typed_rows(const std::string&, std::int64_t, int, std::int64_t, void*) { unavailable(path_); }
void File::write_rows(const std::string&, std::int64_t, const std::vector<float>&) { unavailable(path_); }
void File::write_rows(const std::string&, std::int64_t, const std::vector<double>&) { unavailable(path_); }
void File::write_rows(const std::string&, std::int64_t, const std::vector<std::int32_t>&) { unavailable(path_); }
void File::write_rows(const std::string&, std::int64_t, const std::vector<std::int64_t>&) { unavailable(path_); }
void File::write_rows(const std::string&, std::int64_t, const std::vector<std::string>&) { unavailable(path_); }
void File::write_logical_rows(const std::string&, std::int64_t, const std::vector<std::uint8_t>&) {
  unavailable(path_);
}

}  // namespace irisml::fits

#endif  // IRISML_NO_FITS
