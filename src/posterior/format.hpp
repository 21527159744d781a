// The posterior file's identity and flag bits (docs/posterior_format.md),
// shared by the sampler that writes it and the evaluation that reads it.
#pragma once

#include <cstdint>

namespace irisml::posterior {

inline constexpr const char* kFormat = "irisml-posterior";
inline constexpr std::int64_t kFormatVersion = 1;
inline constexpr int kParameters = 5;
inline constexpr const char* kParameterNames[kParameters] = {"teff", "logg", "mh", "av", "rv"};
inline constexpr const char* kParameterUnits[kParameters] = {"K", "dex", "dex", "mag", ""};
// /flags bits
inline constexpr std::uint32_t kFlagTooFewBands = 1u << 0;
inline constexpr std::uint32_t kFlagOutsideTrainingRange = 1u << 1;
inline constexpr std::uint32_t kFlagPpc = 1u << 2;
inline constexpr std::uint32_t kFlagLowEss = 1u << 3;  // importance (sample) or reference (fit) ESS below threshold
inline constexpr std::uint32_t kFlagErrorRaised = 1u
                                                  << 5;  // an input error below half the training minimum, raised to it
inline constexpr std::uint32_t kFlagNonFinite = 1u
                                                << 4;  // a sampled star whose posterior is not finite (summaries NaN)

// Each flag bit with its key (the summary table's column is "flag_<key>"), a label for
// people and its meaning: one list for the exported tables and the catalogue report.
struct FlagBit {
  std::uint32_t bit;
  const char* key;
  const char* label;
  const char* meaning;
};
inline constexpr FlagBit kFlagBits[] = {
    {kFlagTooFewBands, "too_few_bands", "too few bands",
     "fewer usable bands than the model's minimum: no posterior (summaries NaN)"},
    {kFlagOutsideTrainingRange, "outside_training", "outside training",
     "an input outside the training range (magnitude, error or band count): the network extrapolates"},
    {kFlagPpc, "ppc", "posterior-predictive",
     "posterior-predictive p-value below ppc_alpha: no star of the grid reproduces the photometry within its errors "
     "(a blend, binary, bad band or non-stellar source), or most samples lie off the grid"},
    {kFlagLowEss, "low_ess", "low ESS",
     "importance weights (or the reference fit) have too few effective samples: the flow cannot be trusted here"},
    {kFlagNonFinite, "non_finite", "non-finite", "the posterior is not finite"},
    {kFlagErrorRaised, "error_raised", "error raised", "a quoted error below the training minimum, raised to it"},
};
}  // namespace irisml::posterior
