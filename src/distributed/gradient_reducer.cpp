#include "distributed/gradient_reducer.hpp"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstring>
#include <limits>

#include "core/error.hpp"

namespace irisml::distributed {
namespace {

constexpr std::size_t kNoBucket = std::numeric_limits<std::size_t>::max();

// FNV-1a over the bytes of a value.
void mix(std::uint64_t& hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
}

}  // namespace

GradientReducer::GradientReducer(std::vector<at::Tensor> parameters, std::vector<at::Tensor> buffers,
                                 Communicator& comm, std::size_t bucket_bytes, bool overlap_with_backward)
    : parameters_(std::move(parameters)),
      buffers_(std::move(buffers)),
      comm_(comm),
      owner_thread_(std::this_thread::get_id()) {
  if (bucket_bytes == 0) fail_input("GradientReducer: bucket size is 0 bytes; it must be at least 1 (default 25 MiB)");
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].defined()) fail_input("GradientReducer: parameter {} is undefined", i);
  }
  for (std::size_t i = 0; i < buffers_.size(); ++i) {
    if (!buffers_[i].defined()) fail_input("GradientReducer: buffer {} is undefined", i);
  }
  build_buckets(bucket_bytes);
  check_same_on_all_ranks();
  if (overlap_with_backward && comm_.size() > 1) register_hooks();
}

GradientReducer::GradientReducer(const torch::nn::Module& module, Communicator& comm, std::size_t bucket_bytes,
                                 bool overlap_with_backward)
    : GradientReducer(module.parameters(/*recurse=*/true), module.buffers(/*recurse=*/true), comm, bucket_bytes,
                      overlap_with_backward) {}

GradientReducer::~GradientReducer() {
  for (std::size_t i = 0; i < hooks_.size(); ++i) {
    try {
      parameters_[hooked_[i]].remove_hook(hooks_[i]);
    } catch (...) {  // never throw from a destructor
    }
  }
}

void GradientReducer::build_buckets(std::size_t bucket_bytes) {
  const auto cap = static_cast<std::int64_t>(bucket_bytes);
  location_.assign(parameters_.size(), Location{kNoBucket, 0});
  Bucket current;
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  c10::Device device(c10::DeviceType::CPU);
  auto close = [&]() {
    if (!current.members.empty()) {
      current.ready.assign(current.members.size(), 0);
      current.missing = current.members.size();
      buckets_.push_back(std::move(current));
    }
    current = Bucket{};
  };
  for (std::size_t k = parameters_.size(); k-- > 0;) {
    const at::Tensor& p = parameters_[k];
    if (!p.requires_grad() || p.numel() == 0) continue;
    const std::int64_t bytes = p.numel() * static_cast<std::int64_t>(p.element_size());
    const bool other_kind = !current.members.empty() && (p.scalar_type() != dtype || p.device() != device);
    const bool too_full =
        !current.members.empty() && (current.numel * static_cast<std::int64_t>(p.element_size()) + bytes > cap);
    if (other_kind || too_full) close();
    dtype = p.scalar_type();
    device = p.device();
    location_[k] = Location{buckets_.size(), current.members.size()};
    current.members.push_back(Member{k, current.numel, p.numel()});
    current.numel += p.numel();
  }
  close();
}

void GradientReducer::check_same_on_all_ranks() {
  // A signature of every tensor's shape, dtype and role, compared with rank 0's.
  std::uint64_t hash = 1469598103934665603ull;
  auto add_tensors = [&](const std::vector<at::Tensor>& list, std::uint64_t role) {
    mix(hash, &role, sizeof(role));
    const std::uint64_t count = list.size();
    mix(hash, &count, sizeof(count));
    for (const at::Tensor& t : list) {
      const auto dtype = static_cast<std::int64_t>(t.scalar_type());
      const std::int64_t trainable = t.requires_grad() ? 1 : 0;
      const std::int64_t dims = t.dim();
      mix(hash, &dtype, sizeof(dtype));
      mix(hash, &trainable, sizeof(trainable));
      mix(hash, &dims, sizeof(dims));
      for (std::int64_t d : t.sizes()) mix(hash, &d, sizeof(d));
    }
  };
  add_tensors(parameters_, 1);
  add_tensors(buffers_, 2);
  std::int64_t hash_bits = 0;
  std::memcpy(&hash_bits, &hash, sizeof(hash_bits));
  const std::int64_t total = trainable_numel();
  at::Tensor local = at::tensor(std::vector<std::int64_t>{hash_bits, static_cast<std::int64_t>(parameters_.size()),
                                                          static_cast<std::int64_t>(buffers_.size()), total},
                                at::TensorOptions().dtype(at::kLong));
  std::vector<at::Tensor> reference{local.clone()};
  comm_.broadcast(reference, /*root=*/0);
  const bool same = at::equal(reference[0], local);
  const double mismatched = comm_.allreduce_sum(same ? 0.0 : 1.0);
  if (mismatched > 0.0) {
    const auto ref = reference[0];
    fail_input(
        "GradientReducer: the model differs between ranks ({} of {} ranks differ from rank 0); this rank has "
        "{} parameters ({} trainable elements) and {} buffers, rank 0 has {} parameters ({} trainable "
        "elements) and {} buffers; every rank must build the same model from the same configuration",
        static_cast<int>(mismatched), comm_.size(), parameters_.size(), total, buffers_.size(),
        ref[1].item<std::int64_t>(), ref[3].item<std::int64_t>(), ref[2].item<std::int64_t>());
  }
}

void GradientReducer::register_hooks() {
  for (std::size_t k = 0; k < parameters_.size(); ++k) {
    if (location_[k].bucket == kNoBucket) continue;
    hooks_.push_back(parameters_[k].register_hook([this, k](const at::Tensor& grad) { on_gradient(k, grad); }));
    hooked_.push_back(k);
  }
}

at::Tensor GradientReducer::slot(Bucket& bucket, const Member& member) {
  if (!bucket.flat.defined()) {
    const at::Tensor& first = parameters_[bucket.members.front().parameter];
    bucket.flat = at::empty({bucket.numel}, first.options().requires_grad(false));
  }
  return bucket.flat.narrow(0, member.offset, member.numel).view(parameters_[member.parameter].sizes());
}

void GradientReducer::fill_slot(std::size_t b, std::size_t m, const at::Tensor& incoming) {
  Bucket& bucket = buckets_[b];
  const Member& member = bucket.members[m];
  at::Tensor target = slot(bucket, member);
  const at::Tensor& current = parameters_[member.parameter].grad();
  if (current.defined() && incoming.defined()) {
    at::add_out(target, current, incoming);
  } else if (current.defined()) {
    target.copy_(current);
  } else if (incoming.defined()) {
    target.copy_(incoming);
  } else {
    target.zero_();
  }
  bucket.ready[m] = 1;
  --bucket.missing;
}

void GradientReducer::on_gradient(std::size_t parameter, const at::Tensor& grad) {
  if (skip_sync_) return;
  at::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(mutex_);
  const Location where = location_[parameter];
  Bucket& bucket = buckets_[where.bucket];
  if (bucket.ready[where.member] || bucket.pending) {
    throw Error(fmt::format(
        "GradientReducer: parameter {} received a second gradient before average_gradients(); with "
        "overlap_with_backward each parameter gets one backward pass per step (use set_skip_sync(true) or a "
        "SkipSyncGuard for gradient-accumulation micro-batches)",
        parameter));
  }
  fill_slot(where.bucket, where.member, grad);
  // MPI calls only from the thread that owns MPI (FUNNELED); NCCL from any.
  if (std::this_thread::get_id() == owner_thread_ || comm_.backend() == "nccl") {
    const std::size_t before = next_bucket_;
    start_ready_buckets();
    started_in_backward_ += next_bucket_ - before;
    // Let reductions already in flight progress while backward continues.
    for (std::size_t b = 0; b < next_bucket_; ++b) buckets_[b].pending->test();
  }
}

void GradientReducer::start_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].missing == 0) {
    Bucket& bucket = buckets_[next_bucket_];
    bucket.pending = comm_.start_allreduce_sum(bucket.flat);
    ++next_bucket_;
  }
}

void GradientReducer::reset_step() {
  for (Bucket& bucket : buckets_) {
    std::fill(bucket.ready.begin(), bucket.ready.end(), 0);
    bucket.missing = bucket.members.size();
    bucket.pending.reset();
  }
  next_bucket_ = 0;
  last_started_in_backward_ = started_in_backward_;
  started_in_backward_ = 0;
}

void GradientReducer::broadcast_parameters(int root) {
  std::vector<at::Tensor> all;
  all.reserve(parameters_.size() + buffers_.size());
  for (const at::Tensor& p : parameters_) {
    if (p.numel() > 0) all.push_back(p);
  }
  for (const at::Tensor& b : buffers_) {
    if (b.numel() > 0) all.push_back(b);
  }
  comm_.broadcast(all, root);
}

bool GradientReducer::average_gradients() {
  if (skip_sync_) return false;
  at::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(mutex_);
  if (comm_.size() == 1) {
    for (const Bucket& bucket : buckets_) {
      for (const Member& m : bucket.members) {
        at::Tensor& p = parameters_[m.parameter];
        if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      }
    }
    return true;
  }
  try {
    // Gradients no hook has copied (no overlap, an unused parameter, or a hook on
    // another thread that could not start its bucket) are taken from .grad now.
    for (std::size_t b = next_bucket_; b < buckets_.size(); ++b) {
      for (std::size_t m = 0; m < buckets_[b].members.size(); ++m) {
        if (!buckets_[b].ready[m]) fill_slot(b, m, at::Tensor());
      }
    }
    start_ready_buckets();
    const auto size = static_cast<double>(comm_.size());
    for (Bucket& bucket : buckets_) {
      bucket.pending->wait();
      bucket.flat.div_(size);
      for (const Member& m : bucket.members) {
        at::Tensor& p = parameters_[m.parameter];
        const at::Tensor averaged = slot(bucket, m);
        if (p.grad().defined()) {
          p.mutable_grad().copy_(averaged);
        } else {
          p.mutable_grad() = averaged.clone();
        }
      }
    }
  } catch (...) {
    reset_step();  // waits for reductions in flight before their buffers can be reused
    throw;
  }
  reset_step();
  return true;
}

std::vector<std::vector<std::size_t>> GradientReducer::bucket_parameters() const {
  std::vector<std::vector<std::size_t>> result;
  for (const Bucket& bucket : buckets_) {
    std::vector<std::size_t> indices;
    for (const Member& m : bucket.members) indices.push_back(m.parameter);
    result.push_back(std::move(indices));
  }
  return result;
}

std::size_t GradientReducer::trainable_count() const noexcept {
  std::size_t count = 0;
  for (const Bucket& bucket : buckets_) count += bucket.members.size();
  return count;
}

std::int64_t GradientReducer::trainable_numel() const noexcept {
  std::int64_t numel = 0;
  for (const Bucket& bucket : buckets_) numel += bucket.numel;
  return numel;
}

}  // namespace irisml::distributed
