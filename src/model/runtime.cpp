#include "model/runtime.hpp"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

namespace irisml::model {

void set_cpu_threads(int threads) { at::set_num_threads(threads); }

bool cuda_available() { return torch::cuda::is_available(); }

int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

}  // namespace irisml::model
