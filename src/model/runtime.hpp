// Process-wide CPU settings that make LibTorch training and sampling faster.
#pragma once

namespace irisml::model {

// Keeps large freed blocks in the malloc heap instead of returning them to the kernel
// (glibc: mmap threshold 32 MiB, no trimming below 1 GiB). LibTorch allocates fresh
// activation tensors every step; without this each one is a new mmap and page faults
// cost ~20 % of a CPU training step. Idempotent; call once early (the CLI does). A
// no-op on non-glibc systems.
void tune_cpu_allocator();

}  // namespace irisml::model
