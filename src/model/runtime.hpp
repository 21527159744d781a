// LibTorch's process-wide settings behind a torch-free interface, so that the command
// line and the jobs set them without parsing LibTorch's headers.
#pragma once

namespace irisml::model {

// LibTorch's intra-op CPU threads for this process (at::set_num_threads).
void set_cpu_threads(int threads);

// Whether this process's LibTorch has CUDA and sees at least one GPU, and how many.
bool cuda_available();
int cuda_device_count();

}  // namespace irisml::model
