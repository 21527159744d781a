#include "distributed/bucketing.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <iterator>

#include "core/error.hpp"

namespace irisml::distributed::detail {

const char* dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Char: return "int8";
    case c10::ScalarType::Byte: return "uint8";
    case c10::ScalarType::Short: return "int16";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Bool: return "bool";
    default: return c10::toString(dtype);
  }
}

std::vector<Bucket> plan_buckets(const std::vector<at::Tensor>& tensors, std::size_t bucket_bytes,
                                 std::int64_t max_elements, const WireDtypeFn& wire_dtype) {
  // Groups in order of first appearance; each group's tensors in list order.
  struct Group {
    c10::ScalarType dtype;
    c10::Device device;
    std::vector<std::size_t> members;
  };
  std::vector<Group> groups;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    if (!t.defined()) fail_input("communicator: tensor {} of {} in the list is undefined", i, tensors.size());
    const c10::ScalarType wire = wire_dtype(t.scalar_type(), i);
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.dtype == wire && g.device == t.device(); });
    if (it == groups.end()) {
      groups.push_back(Group{wire, t.device(), {}});
      it = std::prev(groups.end());
    }
    it->members.push_back(i);
  }

  std::vector<Bucket> buckets;
  for (const Group& g : groups) {
    const auto element = static_cast<std::int64_t>(c10::elementSize(g.dtype));
    const std::int64_t cap = std::max<std::int64_t>(
        1, std::min<std::int64_t>(static_cast<std::int64_t>(bucket_bytes) / element, max_elements));
    Bucket current{g.dtype, g.device, 0, {}};
    for (std::size_t i : g.members) {
      const std::int64_t n = tensors[i].numel();
      std::int64_t offset = 0;
      while (offset < n) {
        const std::int64_t take = std::min(n - offset, cap - current.numel);
        current.segments.push_back(Segment{i, offset, take, current.numel});
        current.numel += take;
        offset += take;
        if (current.numel == cap) {
          buckets.push_back(std::move(current));
          current = Bucket{g.dtype, g.device, 0, {}};
        }
      }
    }
    if (current.numel > 0) buckets.push_back(std::move(current));
  }
  return buckets;
}

at::Tensor ScratchBuffers::get(c10::ScalarType dtype, c10::Device device, std::int64_t numel, bool pinned) {
  auto it = std::find_if(buffers_.begin(), buffers_.end(),
                         [&](const Entry& e) { return e.dtype == dtype && e.device == device; });
  if (it == buffers_.end()) {
    buffers_.push_back(Entry{dtype, device, at::Tensor()});
    it = std::prev(buffers_.end());
  }
  if (!it->buffer.defined() || it->buffer.numel() < numel) {
    it->buffer = at::empty({numel}, at::TensorOptions().dtype(dtype).device(device).pinned_memory(pinned));
  }
  return it->buffer.narrow(0, 0, numel);
}

void run_buckets(std::vector<at::Tensor>& tensors, const std::vector<Bucket>& buckets,
                 std::optional<c10::Device> staging, bool pack, bool write_back, ScratchBuffers& scratch,
                 const std::function<void(at::Tensor& flat, const Bucket& bucket)>& op) {
  if (buckets.empty()) return;
  at::NoGradGuard no_grad;

  // Flat 1-D views of the tensors; non-contiguous tensors get a contiguous copy
  // that is written back at the end.
  std::vector<at::Tensor> flat(tensors.size());
  std::vector<char> copied(tensors.size(), 0);
  auto flat_of = [&](std::size_t i) -> at::Tensor& {
    if (!flat[i].defined()) {
      const at::Tensor& t = tensors[i];
      if (t.is_contiguous()) {
        flat[i] = t.view({-1});
      } else {
        flat[i] = t.contiguous().view({-1});
        copied[i] = 1;
      }
    }
    return flat[i];
  };

  for (const Bucket& b : buckets) {
    const Segment& first = b.segments.front();
    const at::Tensor& t0 = tensors[first.tensor];
    const bool in_place = b.segments.size() == 1 && first.offset == 0 && first.count == t0.numel() &&
                          t0.is_contiguous() && t0.scalar_type() == b.wire_dtype &&
                          (!staging || *staging == t0.device());
    at::Tensor buffer;
    if (in_place) {
      buffer = flat_of(first.tensor);
    } else {
      buffer = scratch.get(b.wire_dtype, b.device, b.numel, /*pinned=*/false);
      if (pack) {
        for (const Segment& s : b.segments) {
          buffer.narrow(0, s.bucket_offset, s.count).copy_(flat_of(s.tensor).narrow(0, s.offset, s.count));
        }
      }
    }
    at::Tensor wire = buffer;
    const bool staged = staging && *staging != b.device;
    if (staged) {
      wire = scratch.get(b.wire_dtype, *staging, b.numel, /*pinned=*/staging->is_cpu() && b.device.is_cuda());
      if (pack) wire.copy_(buffer);
    }
    op(wire, b);
    if (!write_back) continue;
    if (staged) buffer.copy_(wire);
    if (!in_place) {
      for (const Segment& s : b.segments) {
        flat_of(s.tensor).narrow(0, s.offset, s.count).copy_(buffer.narrow(0, s.bucket_offset, s.count));
      }
    }
  }
  if (write_back) {
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      if (copied[i]) tensors[i].copy_(flat[i].view(tensors[i].sizes()));
    }
  }
}

}  // namespace irisml::distributed::detail
