// The posterior file's identity and flag bits (docs/posterior_format.md),
// shared by the sampler that writes it and the evaluation that reads it.
#pragma once

#include <cstdint>

namespace irisml::infer {

namespace posterior {
inline constexpr const char* kFormat = "irisml-posterior";
inline constexpr std::int64_t kFormatVersion = 1;
inline constexpr int kParameters = 5;
inline constexpr const char* kParameterNames[kParameters] = {"teff", "logg", "mh", "av", "rv"};
inline constexpr const char* kParameterUnits[kParameters] = {"K", "dex", "dex", "mag", ""};
// /flags bits
inline constexpr std::uint32_t kFlagTooFewBands = 1u << 0;
inline constexpr std::uint32_t kFlagOutsideTrainingRange = 1u << 1;
inline constexpr std::uint32_t kFlagPpcChi2 = 1u << 2;
inline constexpr std::uint32_t kFlagLowEss = 1u << 3;  // importance (sample) or reference (fit) ESS below threshold
inline constexpr std::uint32_t kFlagErrorRaised = 1u
                                                  << 5;  // an input error below half the training minimum, raised to it
inline constexpr std::uint32_t kFlagNonFinite = 1u
                                                << 4;  // a sampled star whose posterior is not finite (summaries NaN)
}  // namespace posterior

}  // namespace irisml::infer
