// Data-parallel gradient averaging in the manner of PyTorch DDP: rank 0's
// parameters and buffers are broadcast at the start, and after each backward pass
// the gradients are averaged over ranks in flat buckets of about bucket_bytes.
//
// Typical step (see also flashlight's DistributedTraining example); build the
// reducer after model->to(device), since it keeps handles to the parameters:
//   GradientReducer reducer(*model, comm, bucket_bytes);
//   reducer.broadcast_parameters();               // once, before the optimiser's first step
//   for (...) {
//     optimizer.zero_grad();
//     loss.backward();
//     reducer.average_gradients();                // every rank now holds the mean gradient
//     optimizer.step();
//   }
// Gradient accumulation over micro-batches: set_skip_sync(true) (or a
// SkipSyncGuard) for all but the last micro-batch; average_gradients() is then a
// no-op and gradients accumulate locally, and the last micro-batch's call averages
// the accumulated sums.
//
// With overlap_with_backward, autograd hooks on the parameters copy each
// gradient into its bucket as soon as backward produces it, and a bucket whose
// gradients are all in is started at once (MPI_Iallreduce on CPU; on the current
// stream with NCCL) while backward goes on with the earlier layers;
// average_gradients() then starts whatever is left and waits. Buckets are always
// started in bucket order, so ranks stay matched even where a parameter gets no
// gradient on some rank. Hooks started on a thread other than the constructing
// one (LibTorch's CUDA autograd threads) only copy, and leave MPI calls to
// average_gradients() (MPI_THREAD_FUNNELED); NCCL launches from any thread.
// Between two average_gradients() calls without skip-sync mode, each parameter
// may receive one gradient (one backward pass), as in DDP; any other backward
// through the model (a reference computation, say) belongs in skip-sync mode.
// With overlap, a bucket holding a parameter that gets no gradient (unused on
// every rank) holds back the buckets after it until average_gradients().
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "distributed/communicator.hpp"

namespace torch::nn {
class Module;
}

namespace irisml::distributed {

class GradientReducer {
 public:
  // `parameters` are the model's parameters (all of them, in the same order on
  // every rank); only those with requires_grad take part in gradient averaging.
  // `buffers` (running statistics and the like) are only broadcast. The reducer
  // keeps handles to the tensors and a reference to `comm`, which must outlive it.
  // Buckets are filled with parameters in reverse order (roughly the order in
  // which backward produces their gradients), one dtype and device per bucket; a
  // parameter larger than bucket_bytes gets a bucket of its own. Collective:
  // checks that every rank has the same parameter shapes and dtypes, and throws
  // InputError on all ranks if not.
  GradientReducer(std::vector<at::Tensor> parameters, std::vector<at::Tensor> buffers, Communicator& comm,
                  std::size_t bucket_bytes = kDefaultBucketBytes, bool overlap_with_backward = false);
  // Same, with module.parameters() and module.buffers().
  GradientReducer(const torch::nn::Module& module, Communicator& comm, std::size_t bucket_bytes = kDefaultBucketBytes,
                  bool overlap_with_backward = false);
  // Removes the autograd hooks.
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Gives every rank the parameters and buffers of `root` (collective).
  void broadcast_parameters(int root = 0);

  // Replaces each trainable parameter's gradient by its mean over ranks
  // (collective). A parameter whose gradient is undefined on a rank counts as a
  // zero gradient there; afterwards every trainable parameter has a defined
  // gradient on every rank, so optimisers behave identically everywhere (this also
  // holds with a single rank, which communicates nothing). In skip-sync mode it
  // does nothing and returns false; otherwise returns true.
  bool average_gradients();

  // Accumulation mode: while true, average_gradients() communicates nothing.
  void set_skip_sync(bool skip) noexcept { skip_sync_ = skip; }
  bool skip_sync() const noexcept { return skip_sync_; }

  // RAII: skip-sync mode for the guard's lifetime (like DDP's no_sync()).
  class SkipSyncGuard {
   public:
    explicit SkipSyncGuard(GradientReducer& reducer) : reducer_(reducer), previous_(reducer.skip_sync()) {
      reducer_.set_skip_sync(true);
    }
    ~SkipSyncGuard() { reducer_.set_skip_sync(previous_); }
    SkipSyncGuard(const SkipSyncGuard&) = delete;
    SkipSyncGuard& operator=(const SkipSyncGuard&) = delete;

   private:
    GradientReducer& reducer_;
    bool previous_;
  };

  std::size_t bucket_count() const noexcept { return buckets_.size(); }
  // For each bucket, the indices (into the parameter list) of its parameters.
  std::vector<std::vector<std::size_t>> bucket_parameters() const;
  // Whether hooks start bucket reductions during backward (false with one rank).
  bool overlaps_with_backward() const noexcept { return !hooks_.empty(); }
  // Buckets started from hooks, during backward, in the last average_gradients().
  std::size_t buckets_started_in_backward() const noexcept { return last_started_in_backward_; }
  // Number of trainable parameters and their total element count.
  std::size_t trainable_count() const noexcept;
  std::int64_t trainable_numel() const noexcept;

 private:
  struct Member {
    std::size_t parameter;  // index into parameters_
    std::int64_t offset;    // first element in the bucket
    std::int64_t numel;
  };
  struct Bucket {
    std::vector<Member> members;
    std::int64_t numel = 0;
    at::Tensor flat;                            // allocated on first use, kept between steps
    std::vector<char> ready;                    // per member: gradient copied into `flat` this step
    std::size_t missing = 0;                    // members not yet ready
    std::unique_ptr<PendingReduction> pending;  // set once started
  };
  struct Location {
    std::size_t bucket;
    std::size_t member;
  };

  void build_buckets(std::size_t bucket_bytes);
  void check_same_on_all_ranks();
  void register_hooks();
  at::Tensor slot(Bucket& bucket, const Member& member);
  // Copies the parameter's current gradient (zeros if undefined) plus `incoming`
  // (if defined) into its slot and marks it ready. Caller holds mutex_.
  void fill_slot(std::size_t bucket, std::size_t member, const at::Tensor& incoming);
  void on_gradient(std::size_t parameter, const at::Tensor& grad);
  // Starts buckets next_bucket_.. in order while they are complete. Caller holds mutex_.
  void start_ready_buckets();
  void reset_step();

  std::vector<at::Tensor> parameters_;
  std::vector<at::Tensor> buffers_;
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<Location> location_;            // per parameter; bucket == npos for frozen ones
  std::vector<unsigned> hooks_;               // hook handle per trainable parameter, in location order
  std::vector<std::size_t> hooked_;           // parameter index of each hook
  std::size_t next_bucket_ = 0;               // first bucket not yet started
  std::size_t started_in_backward_ = 0;       // this step so far
  std::size_t last_started_in_backward_ = 0;  // in the last completed step
  std::thread::id owner_thread_;
  std::mutex mutex_;
  std::atomic<bool> skip_sync_{false};
};

}  // namespace irisml::distributed
