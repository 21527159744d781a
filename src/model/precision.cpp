#include "model/precision.hpp"

#include "core/error.hpp"
#include "core/text.hpp"

namespace irisml::model {

Precision parse_precision(const std::string& text, const std::string& where) {
  const std::string t = lower(trim(text));
  if (t == "fp32" || t == "float32") return Precision::kFloat32;
  if (t == "bf16" || t == "bfloat16") return Precision::kBFloat16;
  fail_input("{}: precision '{}' is not known; allowed: fp32, bf16", where, text);
}

const char* precision_name(Precision precision) { return precision == Precision::kBFloat16 ? "bf16" : "fp32"; }

std::string precision_setting(Precision precision) {
  return precision == Precision::kFloat32 ? std::string() : std::string(" precision=") + precision_name(precision);
}

bool cpu_has_native_bf16() {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
#else
  return false;
#endif
}

ResolvedPrecision resolve_precision(Precision requested, const std::string& device) {
  if (requested == Precision::kFloat32) return {Precision::kFloat32, ""};
  // CUDA: bf16 tensor cores from compute capability 8.0 (the GPUs the CUDA build targets).
  if (device.rfind("cuda", 0) == 0) return {requested, ""};
  if (cpu_has_native_bf16()) return {requested, ""};
  return {Precision::kFloat32,
          "precision bf16 requested but this CPU has neither AVX512_BF16 nor AMX-BF16 (bf16 products would be "
          "emulated, slower than fp32): running fp32"};
}

}  // namespace irisml::model
