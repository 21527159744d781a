// Internal to src/distributed: packing tensor lists into flat buckets for the
// MPI and NCCL communicators.
//
// Tensors are grouped by (wire dtype, device) in order of first appearance; the
// elements of one group are laid end to end and cut into buckets of at most
// `cap` elements, so a bucket may hold many small tensors or one piece of a large
// one. All ranks holding the same tensor list get the same plan, which keeps the
// per-bucket collectives matched.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace irisml::distributed::detail {

// One contiguous run of a tensor's elements inside a bucket.
struct Segment {
  std::size_t tensor = 0;          // index in the tensor list
  std::int64_t offset = 0;         // first element within the (flattened) tensor
  std::int64_t count = 0;          // number of elements
  std::int64_t bucket_offset = 0;  // first element within the bucket
};

struct Bucket {
  c10::ScalarType wire_dtype = c10::ScalarType::Float;     // dtype of the flat buffer
  c10::Device device = c10::Device(c10::DeviceType::CPU);  // device of its tensors
  std::int64_t numel = 0;
  std::vector<Segment> segments;
};

// Maps the dtype of tensor `index` to the dtype it travels in, or throws InputError.
using WireDtypeFn = std::function<c10::ScalarType(c10::ScalarType dtype, std::size_t index)>;

// Plans buckets of at most min(bucket_bytes / element size, max_elements)
// elements (at least one). Throws InputError for undefined tensors.
std::vector<Bucket> plan_buckets(const std::vector<at::Tensor>& tensors, std::size_t bucket_bytes,
                                 std::int64_t max_elements, const WireDtypeFn& wire_dtype);

// Reusable flat buffers, one per (dtype, device), grown to the largest request
// and kept between calls so that each step does not allocate (and page-fault)
// bucket-sized buffers again. Host buffers that stage CUDA tensors are pinned.
class ScratchBuffers {
 public:
  // A 1-D tensor of `numel` elements; valid until the next get() with the same key
  // and a larger numel.
  at::Tensor get(c10::ScalarType dtype, c10::Device device, std::int64_t numel, bool pinned);
  void clear() { buffers_.clear(); }

 private:
  struct Entry {
    c10::ScalarType dtype;
    c10::Device device;
    at::Tensor buffer;
  };
  std::vector<Entry> buffers_;
};

// Runs op(flat, bucket) for each bucket in order, with `flat` a 1-D buffer of
// bucket.numel elements of the wire dtype on `staging` (std::nullopt: the
// tensors' own device). With `pack` the buffer is filled from the tensors first;
// with `write_back` its contents are copied into the tensors afterwards. A bucket
// that is exactly one contiguous tensor of the wire dtype already on the staging
// device is used in place, without copies. Runs under NoGradGuard, so parameters
// may be written.
void run_buckets(std::vector<at::Tensor>& tensors, const std::vector<Bucket>& buckets,
                 std::optional<c10::Device> staging, bool pack, bool write_back, ScratchBuffers& scratch,
                 const std::function<void(at::Tensor& flat, const Bucket& bucket)>& op);

// Name of a dtype as users write it ("float32", "int64", ...).
const char* dtype_name(c10::ScalarType dtype);

}  // namespace irisml::distributed::detail
