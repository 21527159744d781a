// A thin RAII layer over the HDF5 C API, serial or parallel (MPI-IO).
//
// Every call is checked; a failure throws IoError carrying the expression,
// file:line, the object it concerned and HDF5's own error stack. HDF5's own
// stack printing is silenced.
//
// Collective rules (parallel files): creating/opening files, datasets and
// attributes, and every read_rows/write_rows call, must be made by all ranks
// with the same arguments (each rank's own row range may differ, including an
// empty one). Attribute writes are collective too: all ranks write the same value.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace irisml::h5 {

// Owns an hid_t and closes it with the right H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() noexcept;                                                    // never throws; a close failure is printed
  hid_t release() noexcept { return std::exchange(id_, H5I_INVALID_HID); }  // without closing

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Element types the wrappers know.
template <typename T>
hid_t native_type();

class File {
 public:
  // Creates (truncating) a file. comm == MPI_COMM_NULL opens it serially on
  // this process alone; otherwise collectively with the MPI-IO driver.
  static File create(const std::string& path, MPI_Comm comm = MPI_COMM_NULL);
  // Opens an existing file, read-only unless `writable`.
  static File open(const std::string& path, bool writable = false, MPI_Comm comm = MPI_COMM_NULL);

  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }
  bool parallel() const { return comm_ != MPI_COMM_NULL; }
  MPI_Comm comm() const { return comm_; }

  bool exists(const std::string& name) const;
  // Dimensions of a dataset; throws IoError naming the file if it is missing.
  std::vector<std::uint64_t> dims(const std::string& name) const;

  // Names of the datasets directly under `group`, sorted by name; IoError if it is not a group.
  std::vector<std::string> dataset_names(const std::string& group) const;

  // Creates a group (and its parents) if absent.
  void create_group(const std::string& name);

  // Creates a contiguous dataset (no timestamps, so files are reproducible).
  template <typename T>
  void create_dataset(const std::string& name, const std::vector<std::uint64_t>& dims);

  // Writes rows [row0, row0+nrows) of a dataset whose row length is the
  // product of its trailing dimensions. Collective on parallel files.
  template <typename T>
  void write_rows(const std::string& name, std::uint64_t row0, std::uint64_t nrows, const T* data);
  template <typename T>
  void read_rows(const std::string& name, std::uint64_t row0, std::uint64_t nrows, T* data) const;

  // Whole-dataset conveniences (collective on parallel files: every rank reads
  // or writes the whole thing; writes must then carry identical data).
  template <typename T>
  void write(const std::string& name, const std::vector<T>& data, const std::vector<std::uint64_t>& dims);
  template <typename T>
  std::vector<T> read(const std::string& name) const;

  void write_strings(const std::string& name, const std::vector<std::string>& values);
  // A 1-D dataset of fixed-length strings (`width` bytes, NUL-padded) written row by row.
  void create_string_dataset(const std::string& name, std::uint64_t rows, std::size_t width);
  // Rows [row0, row0 + values.size()) of such a dataset; a longer value is cut at `width`.
  // Collective on parallel files (an idle rank passes no values).
  void write_string_rows(const std::string& name, std::uint64_t row0, const std::vector<std::string>& values,
                         std::size_t width);
  std::vector<std::string> read_strings(const std::string& name) const;
  // Rows [row0, row0 + nrows) of a 1-D fixed-length string dataset, and its width in bytes.
  std::vector<std::string> read_string_rows(const std::string& name, std::uint64_t row0, std::uint64_t nrows) const;
  std::size_t string_width(const std::string& name) const;

  // Attributes on an object ("/" for the file itself).
  void set_attr(const std::string& object, const std::string& name, const std::string& value);
  void set_attr(const std::string& object, const std::string& name, double value);
  void set_attr(const std::string& object, const std::string& name, std::int64_t value);
  void set_attr(const std::string& object, const std::string& name, const std::vector<double>& value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string attr_string(const std::string& object, const std::string& name) const;
  double attr_double(const std::string& object, const std::string& name) const;
  std::int64_t attr_int(const std::string& object, const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& object, const std::string& name) const;
  std::vector<std::string> attr_names(const std::string& object) const;

  // True if every parallel row transfer so far was collective (always true serially).
  bool all_transfers_collective() const { return all_collective_; }

  // Writes buffered data to disk (collective on parallel files); IoError if it fails.
  void flush();

  // Flushes and closes (collective); the destructor also closes.
  void close();

  // Gives up a file being written after a failure (collective on parallel files): frees
  // its space (truncates it), closes it, and removes it (rank 0 of a parallel file).
  // Never throws. On a full disk a plain close fails to flush HDF5's metadata and leaves
  // the library holding the file, which then crashes at exit (MPI_Finalize); this close
  // succeeds because the truncation made room.
  void discard() noexcept;

 private:
  File(std::string path, hid_t id, MPI_Comm comm) : path_(std::move(path)), file_(id), comm_(comm) {}
  void transfer_rows(bool write, const std::string& name, std::uint64_t row0, std::uint64_t nrows, hid_t type,
                     void* data) const;

  std::string path_;
  Handle file_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  mutable bool all_collective_ = true;
};

// Silences HDF5's automatic error printing for the whole process (idempotent).
void silence_errors();

// True if the file starts with the HDF5 signature (cheap, no HDF5 calls).
bool is_hdf5(const std::string& path);

}  // namespace irisml::h5
