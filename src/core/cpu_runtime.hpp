// Process-wide CPU settings that decide how fast LibTorch runs on a CPU node.
//
// LibTorch's matrix products go to the system BLAS (OpenBLAS on Debian), which runs
// them on its own thread pool next to LibTorch's OpenMP team. Four defaults of that
// stack cost a CPU training step dearly, and are fixed here (figures in
// docs/benchmarks.md):
//  - OpenMP threads busy-wait after each parallel region and starve OpenBLAS's
//    threads on the same cores: a paper-size step runs ~2.4× slower than with
//    OMP_WAIT_POLICY=PASSIVE (prepare_cpu_environment);
//  - OPENBLAS_CORETYPE=Haswell (set on some images for reproducibility) holds
//    OpenBLAS to AVX2 kernels; on an AVX-512 CPU its own choice runs the step ~1.4×
//    faster. A user's setting is kept, with a note in the log (blas_kernel_advice);
//  - glibc returns every large freed block to the kernel, so each step's fresh
//    activation tensors page-fault in again (tune_allocator);
//  - OpenBLAS sizes its pool to the whole node, whatever LibTorch's thread count, so
//    ranks sharing a node oversubscribe it (set_blas_threads).
// No LibTorch here: the BLAS is reached through the dynamic linker, and every function
// is a no-op where the BLAS is not OpenBLAS.
#pragma once

#include <cstdint>
#include <string>

namespace irisml {

// Keeps freed blocks up to 32 MiB in the malloc heap and stops trimming below 1 GiB
// (glibc only). Idempotent.
void tune_allocator();

// Call first thing in main(), before any thread or MPI exists. The OpenMP runtime
// reads OMP_WAIT_POLICY only while loading, so when it is unset this sets it to
// PASSIVE and re-executes the program with the same arguments (once; about a second
// of start-up). A value you set yourself is left alone.
void prepare_cpu_environment(char** argv);

// A note for logs when OPENBLAS_CORETYPE holds OpenBLAS to AVX2 kernels (Haswell,
// Zen) on a CPU with AVX-512 F/BW/DQ/VL; empty otherwise.
std::string blas_kernel_advice();

// OpenBLAS's thread count (its pool is separate from LibTorch's OpenMP threads);
// blas_threads() is 1 where the BLAS is not OpenBLAS.
void set_blas_threads(int threads);
int blas_threads();

// "OpenBLAS <core> <threads> threads", or "BLAS (not OpenBLAS)" — for logs and benches.
std::string blas_description();

// Memory this process may use, in bytes: the machine's physical memory, or the
// cgroup (v2 memory.max or v1 limit_in_bytes) limit when lower, as under SLURM.
std::uint64_t usable_memory_bytes();

}  // namespace irisml
