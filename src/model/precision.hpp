// Arithmetic precision of the network's matrix products (`--precision fp32|bf16`).
//
// bf16 is mixed precision: the encoder's linear layers (query/key/value, attention
// output, feed-forward: nearly all of a step's floating-point work) multiply bf16
// copies of their fp32 inputs and weights and return fp32. Everything else stays fp32:
// the weights themselves (the master copy Adam updates), Adam's moments, the token
// embedding, layer norms, the attention kernel, the flow (its log-density and
// Jacobians), the loss, and every gradient reaching a parameter (the casts' backward
// converts bf16 gradients back to fp32 before they accumulate). The same explicit casts
// run on CUDA, so one code path serves CPU and GPU.
//
// bf16 is worth it only where the hardware multiplies bf16 natively: on CPUs with
// AVX512_BF16 or AMX-BF16 (oneDNN kernels, 3–4× the fp32 matmul rate on this
// project's dev machine; docs/benchmarks.md) and on CUDA GPUs of compute capability
// 8.0 or later. Elsewhere resolve_precision() falls back to fp32 and says why.
#pragma once

#include <string>

namespace irisml::model {

enum class Precision { kFloat32, kBFloat16 };

// "fp32" | "bf16" (also "float32", "bfloat16"); anything else is an InputError naming
// `text`, `where` it came from and the allowed values.
Precision parse_precision(const std::string& text, const std::string& where);

// "fp32" or "bf16".
const char* precision_name(Precision precision);

// " precision=bf16" for settings lines and resume keys; "" for fp32, so that fp32 runs
// record exactly what they recorded before bf16 existed.
std::string precision_setting(Precision precision);

// Whether this CPU multiplies bf16 natively (AVX512_BF16 or AMX-BF16).
bool cpu_has_native_bf16();

struct ResolvedPrecision {
  Precision precision = Precision::kFloat32;
  std::string note;  // why the request was not honoured ("" when it was)
};

// The precision to run on `device` ("cpu", "cuda", "cuda:N"): `requested`, or fp32
// with a note when that device cannot run bf16 fast.
ResolvedPrecision resolve_precision(Precision requested, const std::string& device);

}  // namespace irisml::model
