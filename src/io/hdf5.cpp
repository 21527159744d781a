#include "io/hdf5.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

#include <unistd.h>

#include "core/error.hpp"
#include "core/paths.hpp"

namespace irisml::h5 {
namespace {

// Collects HDF5's error stack into one line (innermost message last).
herr_t collect_error(unsigned n, const H5E_error2_t* e, void* client) {
  auto* text = static_cast<std::string*>(client);
  if (!text->empty()) *text += "; ";
  *text += e->desc ? e->desc : "?";
  if (e->func_name) *text += fmt::format(" (in {})", e->func_name);
  return 0;
}

std::string error_stack() {
  std::string text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &text);
  H5Eclear2(H5E_DEFAULT);
  return text;
}

// The operating system's reason for a failed write or read, when there is one: HDF5's
// stack quotes it ("errno = 28, error message = 'No space left on device'"); MPI-IO's
// does not, but leaves errno set. Empty when neither says.
std::string system_reason(const std::string& stack, int saved_errno) {
  const std::string key = "error message = '";
  if (auto at = stack.find(key); at != std::string::npos) {
    const auto begin = at + key.size();
    if (auto end = stack.find('\'', begin); end != std::string::npos) return stack.substr(begin, end - begin);
  }
  switch (saved_errno) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EIO:
    case EROFS: return std::strerror(saved_errno);
    default: return {};
  }
}

[[noreturn]] void raise(const char* expr, const char* file, int line, const std::string& context) {
  const int saved_errno = errno;
  std::string stack = error_stack();
  // A full disk, a quota or an I/O error: one line with the system's reason; the HDF5 stack
  // would bury it (issue 26).
  if (const std::string reason = system_reason(stack, saved_errno); !reason.empty()) {
    throw IoError(fmt::format("{}: {}", context, reason));
  }
  throw IoError(fmt::format("HDF5 error: {}: `{}` failed at {}:{}{}{}", context, expr, file, line,
                            stack.empty() ? "" : ": ", stack));
}

}  // namespace

#define IRISML_H5_CHECK(expr, context)                                     \
  ([&]() {                                                                 \
    auto _r = (expr);                                                      \
    if (_r < 0) ::irisml::h5::raise(#expr, __FILE__, __LINE__, (context)); \
    return _r;                                                             \
  }())

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

bool is_hdf5(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char sig[8] = {};
  if (!in.read(sig, 8)) return false;
  static const char kSig[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  return std::memcmp(sig, kSig, 8) == 0;
}

void Handle::reset() noexcept {
  if (id_ < 0) return;
  herr_t status = 0;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: status = H5Fclose(id_); break;
    case H5I_GROUP: status = H5Gclose(id_); break;
    case H5I_DATASET: status = H5Dclose(id_); break;
    case H5I_DATASPACE: status = H5Sclose(id_); break;
    case H5I_DATATYPE: status = H5Tclose(id_); break;
    case H5I_ATTR: status = H5Aclose(id_); break;
    case H5I_GENPROP_LST: status = H5Pclose(id_); break;
    default: status = H5Idec_ref(id_); break;
  }
  if (status < 0) std::fprintf(stderr, "irisml: warning: failed to close an HDF5 object: %s\n", error_stack().c_str());
  id_ = H5I_INVALID_HID;
}

// clang-format off
template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<std::int8_t>() { return H5T_NATIVE_INT8; }
template <> hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<std::uint32_t>() { return H5T_NATIVE_UINT32; }
template <> hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }
// clang-format on

namespace {

Handle file_access(MPI_Comm comm) {
  Handle fapl(IRISML_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), "creating a file-access list"));
  if (comm != MPI_COMM_NULL) {
    IRISML_H5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "selecting the MPI-IO driver");
    IRISML_H5_CHECK(H5Pset_all_coll_metadata_ops(fapl.get(), true), "collective metadata reads");
    IRISML_H5_CHECK(H5Pset_coll_metadata_write(fapl.get(), true), "collective metadata writes");
  }
  return fapl;
}

std::string describe(const std::string& path, const std::string& name) { return fmt::format("'{}' in {}", name, path); }

Handle open_object(hid_t file, const std::string& path, const std::string& object) {
  return Handle(IRISML_H5_CHECK(H5Oopen(file, object.c_str(), H5P_DEFAULT), "opening " + describe(path, object)));
}

Handle string_type(std::size_t length) {
  Handle type(IRISML_H5_CHECK(H5Tcopy(H5T_C_S1), "copying the string type"));
  IRISML_H5_CHECK(H5Tset_size(type.get(), length == 0 ? 1 : length), "sizing a string type");
  IRISML_H5_CHECK(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "string padding");
  return type;
}

}  // namespace

File File::create(const std::string& path, MPI_Comm comm) {
  silence_errors();
  Handle fapl = file_access(comm);
  Handle fcpl(IRISML_H5_CHECK(H5Pcreate(H5P_FILE_CREATE), "creating a file-creation list"));
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (id < 0) fail_io("cannot create HDF5 file '{}': {}", path, error_stack());
  return File(path, id, comm);
}

File File::open(const std::string& path, bool writable, MPI_Comm comm) {
  silence_errors();
  if (!is_hdf5(path)) {
    std::ifstream probe(path);
    if (!probe) fail_io("cannot open '{}': file missing or unreadable", path);
    fail_io("'{}' is not an HDF5 file (no HDF5 signature)", path);
  }
  Handle fapl = file_access(comm);
  hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl.get());
  if (id < 0) fail_io("cannot open HDF5 file '{}' (truncated or damaged?): {}", path, error_stack());
  return File(path, id, comm);
}

void File::close() {
  if (file_.valid()) {
    hid_t id = file_.get();
    IRISML_H5_CHECK(H5Fflush(id, H5F_SCOPE_LOCAL), "flushing " + path_);
    file_.reset();
  }
}

void File::discard() noexcept {
  int rank = 0;
  if (parallel()) MPI_Comm_rank(comm_, &rank);
  if (file_.valid()) {
    [[maybe_unused]] const int truncated = ::truncate(path_.c_str(), 0);  // if not, the close is still tried
    const hid_t id = file_.release();
    if (H5Fclose(id) < 0) {
      std::fprintf(stderr, "irisml: warning: could not close '%s' after a failure: %s\n", path_.c_str(),
                   error_stack().c_str());
    }
  }
  if (rank == 0) std::remove(path_.c_str());
}

bool File::exists(const std::string& name) const {
  // Walk each path component: H5Lexists fails on missing intermediate groups.
  std::size_t pos = 0;
  while (true) {
    pos = name.find('/', pos + 1);
    std::string prefix = name.substr(0, pos);
    if (!prefix.empty() && prefix != "/") {
      htri_t e = H5Lexists(id(), prefix.c_str(), H5P_DEFAULT);
      if (e <= 0) return false;
    }
    if (pos == std::string::npos) return true;
  }
}

std::vector<std::uint64_t> File::dims(const std::string& name) const {
  if (!exists(name)) fail_input("dataset '{}' is missing from '{}'", name, path_);
  Handle dset(IRISML_H5_CHECK(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "opening " + describe(path_, name)));
  Handle space(IRISML_H5_CHECK(H5Dget_space(dset.get()), "dataspace of " + describe(path_, name)));
  int rank = IRISML_H5_CHECK(H5Sget_simple_extent_ndims(space.get()), "rank of " + describe(path_, name));
  std::vector<hsize_t> d(static_cast<std::size_t>(rank));
  IRISML_H5_CHECK(H5Sget_simple_extent_dims(space.get(), d.data(), nullptr), "extent of " + describe(path_, name));
  return {d.begin(), d.end()};
}

std::vector<std::string> File::dataset_names(const std::string& group) const {
  struct Visit {
    static herr_t callback(hid_t loc, const char* name, const H5L_info_t*, void* data) {
      H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
      if (H5Oget_info_by_name3(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#else
      if (H5Oget_info_by_name2(loc, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#endif
      if (info.type == H5O_TYPE_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(name);
      return 0;
    }
  };
  std::vector<std::string> names;
  Handle g(H5Gopen2(id(), group.c_str(), H5P_DEFAULT));
  if (!g.valid()) fail_io("cannot open group '{}' in '{}'", group, path_);
  hsize_t index = 0;
  if (H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, &index, &Visit::callback, &names) < 0) {
    fail_io("cannot list the datasets of group '{}' in '{}'", group, path_);
  }
  return names;
}

void File::create_group(const std::string& name) {
  if (exists(name)) return;
  Handle lcpl(IRISML_H5_CHECK(H5Pcreate(H5P_LINK_CREATE), "link-creation list"));
  IRISML_H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1), "intermediate groups");
  Handle g(IRISML_H5_CHECK(H5Gcreate2(id(), name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                           "creating group " + describe(path_, name)));
}

namespace {
void create_dataset_typed(hid_t file, const std::string& path, const std::string& name, hid_t type,
                          const std::vector<std::uint64_t>& dims) {
  std::vector<hsize_t> d(dims.begin(), dims.end());
  Handle space(IRISML_H5_CHECK(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "dataspace"));
  Handle lcpl(IRISML_H5_CHECK(H5Pcreate(H5P_LINK_CREATE), "link-creation list"));
  IRISML_H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1), "intermediate groups");
  Handle dcpl(IRISML_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), "dataset-creation list"));
  IRISML_H5_CHECK(H5Pset_obj_track_times(dcpl.get(), false), "no timestamps");
  IRISML_H5_CHECK(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "early allocation");
  IRISML_H5_CHECK(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "no fill");
  Handle dset(IRISML_H5_CHECK(H5Dcreate2(file, name.c_str(), type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                              "creating dataset " + describe(path, name)));
}
}  // namespace

template <typename T>
void File::create_dataset(const std::string& name, const std::vector<std::uint64_t>& dims) {
  create_dataset_typed(id(), path_, name, native_type<T>(), dims);
}

void File::transfer_rows(bool write, const std::string& name, std::uint64_t row0, std::uint64_t nrows, hid_t type,
                         void* data) const {
  const std::string what = describe(path_, name);
  Handle dset(IRISML_H5_CHECK(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "opening " + what));
  Handle fspace(IRISML_H5_CHECK(H5Dget_space(dset.get()), "dataspace of " + what));
  int rank = IRISML_H5_CHECK(H5Sget_simple_extent_ndims(fspace.get()), "rank of " + what);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  IRISML_H5_CHECK(H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr), "extent of " + what);
  if (rank == 0) fail_io("{} is a scalar, not a table", what);
  if (row0 + nrows > dims[0]) {
    fail_io("rows [{}, {}) of {} are out of range (it has {} rows)", row0, row0 + nrows, what, dims[0]);
  }
  std::vector<hsize_t> start(dims.size(), 0), count(dims);
  start[0] = row0;
  count[0] = nrows;
  Handle mspace;
  if (nrows == 0) {
    // An idle rank still takes part in the collective call. Its memory space is
    // a one-row space with nothing selected (an H5S_NULL space makes HDF5 1.10's
    // collective MPI-IO path write one element).
    IRISML_H5_CHECK(H5Sselect_none(fspace.get()), "empty selection");
    count[0] = 1;
    mspace = Handle(IRISML_H5_CHECK(H5Screate_simple(rank, count.data(), nullptr), "memory space"));
    IRISML_H5_CHECK(H5Sselect_none(mspace.get()), "empty memory selection");
  } else {
    IRISML_H5_CHECK(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
                    "selecting rows of " + what);
    mspace = Handle(IRISML_H5_CHECK(H5Screate_simple(rank, count.data(), nullptr), "memory space"));
  }
  Handle dxpl(IRISML_H5_CHECK(H5Pcreate(H5P_DATASET_XFER), "transfer list"));
  if (parallel()) IRISML_H5_CHECK(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE), "collective transfer");
  if (write) {
    if (H5Dwrite(dset.get(), type, mspace.get(), fspace.get(), dxpl.get(), data) < 0) {
      // MPI-IO's stack does not say why a write failed; a full file system is the usual reason.
      if (const std::string note = full_disk_note(path_); !note.empty()) {
        error_stack();  // cleared
        fail_io("writing {}: no space left on device{}", what, note);
      }
      raise("H5Dwrite", __FILE__, __LINE__, "writing " + what);
    }
  } else {
    IRISML_H5_CHECK(H5Dread(dset.get(), type, mspace.get(), fspace.get(), dxpl.get(), data), "reading " + what);
  }
  if (parallel()) {
    uint32_t local = 0, global = 0;
    IRISML_H5_CHECK(H5Pget_mpio_no_collective_cause(dxpl.get(), &local, &global), "collective cause");
    if (global != H5D_MPIO_COLLECTIVE) all_collective_ = false;
  }
}

void File::create_string_dataset(const std::string& name, std::uint64_t rows, std::size_t width) {
  Handle type = string_type(width);
  create_dataset_typed(id(), path_, name, type.get(), {rows});
}

void File::write_string_rows(const std::string& name, std::uint64_t row0, const std::vector<std::string>& values,
                             std::size_t width) {
  width = std::max<std::size_t>(width, 1);
  std::vector<char> buffer(std::max<std::size_t>(1, values.size()) * width, '\0');  // valid even when idle
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::copy_n(values[i].data(), std::min(width, values[i].size()), buffer.data() + i * width);
  }
  Handle type = string_type(width);
  transfer_rows(true, name, row0, values.size(), type.get(), buffer.data());
}

void File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_GLOBAL) < 0) fail_io("flushing '{}' failed (disk full?): {}", path_, error_stack());
}

template <typename T>
void File::write_rows(const std::string& name, std::uint64_t row0, std::uint64_t nrows, const T* data) {
  transfer_rows(true, name, row0, nrows, native_type<T>(), const_cast<T*>(data));
}

template <typename T>
void File::read_rows(const std::string& name, std::uint64_t row0, std::uint64_t nrows, T* data) const {
  transfer_rows(false, name, row0, nrows, native_type<T>(), data);
}

template <typename T>
void File::write(const std::string& name, const std::vector<T>& data, const std::vector<std::uint64_t>& dims) {
  std::uint64_t total = 1;
  for (auto d : dims) total *= d;
  if (total != data.size()) fail_io("writing {}: {} values do not fill the shape", describe(path_, name), data.size());
  if (!exists(name)) create_dataset<T>(name, dims);
  write_rows<T>(name, 0, dims.empty() ? 0 : dims[0], data.data());
}

template <typename T>
std::vector<T> File::read(const std::string& name) const {
  auto d = dims(name);
  std::uint64_t total = 1;
  for (auto x : d) total *= x;
  std::vector<T> out(total);
  if (d.empty()) fail_io("{} is a scalar dataset", describe(path_, name));
  read_rows<T>(name, 0, d[0], out.data());
  return out;
}

void File::write_strings(const std::string& name, const std::vector<std::string>& values) {
  std::size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  std::vector<char> buffer(width * values.size(), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) std::memcpy(&buffer[i * width], values[i].data(), values[i].size());
  Handle type = string_type(width);
  create_dataset_typed(id(), path_, name, type.get(), {values.size()});
  transfer_rows(true, name, 0, values.size(), type.get(), buffer.data());
}

std::size_t File::string_width(const std::string& name) const {
  auto d = dims(name);
  const std::string what = describe(path_, name);
  if (d.size() != 1) fail_input("{} should be a 1-D string list", what);
  Handle dset(IRISML_H5_CHECK(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), "opening " + what));
  Handle ftype(IRISML_H5_CHECK(H5Dget_type(dset.get()), "type of " + what));
  if (H5Tget_class(ftype.get()) != H5T_STRING || H5Tis_variable_str(ftype.get()) > 0) {
    fail_input("{} is not a fixed-length string dataset{}", what,
               H5Tis_variable_str(ftype.get()) > 0
                   ? " (variable-length strings are not read: store fixed-length ones, e.g. numpy bytes 'S<n>')"
                   : "");
  }
  return H5Tget_size(ftype.get());
}

std::vector<std::string> File::read_string_rows(const std::string& name, std::uint64_t row0,
                                                std::uint64_t nrows) const {
  const std::size_t width = string_width(name);
  Handle mtype = string_type(width);
  std::vector<char> buffer(width * nrows + 1, '\0');
  transfer_rows(false, name, row0, nrows, mtype.get(), buffer.data());
  std::vector<std::string> out;
  out.reserve(nrows);
  for (std::size_t i = 0; i < nrows; ++i) {
    const char* s = &buffer[i * width];
    out.emplace_back(s, strnlen(s, width));
  }
  return out;
}

std::vector<std::string> File::read_strings(const std::string& name) const {
  return read_string_rows(name, 0, dims(name)[0]);  // read_string_rows checks shape and type
}

namespace {
void write_attribute(hid_t file, const std::string& path, const std::string& object, const std::string& name,
                     hid_t type, hid_t space, const void* data) {
  Handle obj = open_object(file, path, object);
  if (H5Aexists(obj.get(), name.c_str()) > 0) {
    IRISML_H5_CHECK(H5Adelete(obj.get(), name.c_str()), "replacing attribute " + name);
  }
  Handle attr(IRISML_H5_CHECK(H5Acreate2(obj.get(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT),
                              "creating attribute " + name + " on " + describe(path, object)));
  IRISML_H5_CHECK(H5Awrite(attr.get(), type, data), "writing attribute " + name);
}

Handle open_attribute(hid_t file, const std::string& path, const std::string& object, const std::string& name) {
  Handle obj = open_object(file, path, object);
  if (H5Aexists(obj.get(), name.c_str()) <= 0) {
    fail_input("attribute '{}' is missing on {}", name, describe(path, object));
  }
  return Handle(IRISML_H5_CHECK(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT), "opening attribute " + name));
}

std::size_t attribute_size(hid_t attr) {
  Handle space(IRISML_H5_CHECK(H5Aget_space(attr), "attribute space"));
  hssize_t n = IRISML_H5_CHECK(H5Sget_simple_extent_npoints(space.get()), "attribute size");
  return static_cast<std::size_t>(n);
}
}  // namespace

void File::set_attr(const std::string& object, const std::string& name, const std::string& value) {
  Handle type = string_type(value.size());
  Handle space(IRISML_H5_CHECK(H5Screate(H5S_SCALAR), "scalar space"));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attribute(id(), path_, object, name, type.get(), space.get(), padded.data());
}

void File::set_attr(const std::string& object, const std::string& name, double value) {
  Handle space(IRISML_H5_CHECK(H5Screate(H5S_SCALAR), "scalar space"));
  write_attribute(id(), path_, object, name, H5T_NATIVE_DOUBLE, space.get(), &value);
}

void File::set_attr(const std::string& object, const std::string& name, std::int64_t value) {
  Handle space(IRISML_H5_CHECK(H5Screate(H5S_SCALAR), "scalar space"));
  write_attribute(id(), path_, object, name, H5T_NATIVE_INT64, space.get(), &value);
}

void File::set_attr(const std::string& object, const std::string& name, const std::vector<double>& value) {
  hsize_t n = value.size();
  Handle space(IRISML_H5_CHECK(H5Screate_simple(1, &n, nullptr), "vector space"));
  write_attribute(id(), path_, object, name, H5T_NATIVE_DOUBLE, space.get(), value.data());
}

bool File::has_attr(const std::string& object, const std::string& name) const {
  if (object != "/" && !exists(object)) return false;
  Handle obj = open_object(id(), path_, object);
  return H5Aexists(obj.get(), name.c_str()) > 0;
}

std::string File::attr_string(const std::string& object, const std::string& name) const {
  Handle attr = open_attribute(id(), path_, object, name);
  Handle ftype(IRISML_H5_CHECK(H5Aget_type(attr.get()), "attribute type"));
  if (H5Tget_class(ftype.get()) != H5T_STRING)
    fail_input("attribute '{}' on {} is not a string", name, describe(path_, object));
  if (H5Tis_variable_str(ftype.get()) > 0) {
    char* text = nullptr;
    Handle mtype(IRISML_H5_CHECK(H5Tcopy(H5T_C_S1), "string type"));
    IRISML_H5_CHECK(H5Tset_size(mtype.get(), H5T_VARIABLE), "variable string");
    IRISML_H5_CHECK(H5Aread(attr.get(), mtype.get(), &text), "reading attribute " + name);
    std::string out = text ? text : "";
    H5free_memory(text);
    return out;
  }
  std::size_t width = H5Tget_size(ftype.get());
  Handle mtype = string_type(width);
  std::vector<char> buffer(width + 1, '\0');
  IRISML_H5_CHECK(H5Aread(attr.get(), mtype.get(), buffer.data()), "reading attribute " + name);
  return std::string(buffer.data(), strnlen(buffer.data(), width));
}

double File::attr_double(const std::string& object, const std::string& name) const {
  Handle attr = open_attribute(id(), path_, object, name);
  if (attribute_size(attr.get()) != 1)
    fail_input("attribute '{}' on {} is not a scalar", name, describe(path_, object));
  double value = 0;
  IRISML_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value), "reading attribute " + name);
  return value;
}

std::int64_t File::attr_int(const std::string& object, const std::string& name) const {
  Handle attr = open_attribute(id(), path_, object, name);
  if (attribute_size(attr.get()) != 1)
    fail_input("attribute '{}' on {} is not a scalar", name, describe(path_, object));
  std::int64_t value = 0;
  IRISML_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), "reading attribute " + name);
  return value;
}

std::vector<double> File::attr_doubles(const std::string& object, const std::string& name) const {
  Handle attr = open_attribute(id(), path_, object, name);
  std::vector<double> value(attribute_size(attr.get()));
  IRISML_H5_CHECK(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, value.data()), "reading attribute " + name);
  return value;
}

std::vector<std::string> File::attr_names(const std::string& object) const {
  Handle obj = open_object(id(), path_, object);
  H5O_info_t info;
  IRISML_H5_CHECK(H5Oget_info2(obj.get(), &info, H5O_INFO_NUM_ATTRS), "object info");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    ssize_t len = IRISML_H5_CHECK(
        H5Aget_name_by_idx(obj.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT), "attribute name");
    std::string name(static_cast<std::size_t>(len) + 1, '\0');
    H5Aget_name_by_idx(obj.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<std::size_t>(len));
    names.push_back(name);
  }
  return names;
}

#define IRISML_H5_INSTANTIATE(T)                                                                              \
  template void File::create_dataset<T>(const std::string&, const std::vector<std::uint64_t>&);               \
  template void File::write_rows<T>(const std::string&, std::uint64_t, std::uint64_t, const T*);              \
  template void File::read_rows<T>(const std::string&, std::uint64_t, std::uint64_t, T*) const;               \
  template void File::write<T>(const std::string&, const std::vector<T>&, const std::vector<std::uint64_t>&); \
  template std::vector<T> File::read<T>(const std::string&) const;

IRISML_H5_INSTANTIATE(float)
IRISML_H5_INSTANTIATE(double)
IRISML_H5_INSTANTIATE(std::int8_t)
IRISML_H5_INSTANTIATE(std::uint8_t)
IRISML_H5_INSTANTIATE(std::int32_t)
IRISML_H5_INSTANTIATE(std::uint32_t)
IRISML_H5_INSTANTIATE(std::int64_t)
IRISML_H5_INSTANTIATE(std::uint64_t)

}  // namespace irisml::h5
