// The posterior-predictive check of the sampler (docs/posterior_format.md, /ppc_chi2 and
// /ppc_p): does the simulator reproduce a star's magnitudes near its posterior?
// No torch here.
#pragma once

#include <limits>
#include <vector>

namespace irisml::simulate {
class Synthesizer;
}  // namespace irisml::simulate

namespace irisml::infer {

// χ²/dof of observed magnitudes against the synthesizer's prediction at θ with the
// error-weighted best distance offset (obs − model); dof = bands − 1. Each band's σ is
// √(err² + sigma_floor²). Returns NaN if θ is outside the grid (`*inside_grid` false)
// or fewer than two bands are given. `bands` index the synthesizer's band list;
// `model_mags`/`work` are scratch.
double ppc_chi2(const simulate::Synthesizer& synth, const double theta[5], const int* bands, const float* mag,
                const float* err, int n, std::vector<double>& model_mags, std::vector<double>& work,
                bool* inside_grid = nullptr, double* offset = nullptr, double sigma_floor = 0.0);

// The posterior-predictive check of one star (docs/posterior_format.md): is there a θ
// at which the simulator reproduces the observed magnitudes within their errors?
// Starting from the 3 posterior samples with the smallest χ² (offset profiled,
// ppc_chi2), Levenberg–Marquardt fits over log10 Teff, log g, [M/H], A_V and R_V give
// χ²_min; p_eff counts the parameters the photometry determines there (the trace of
// the Fisher matrix against the prior's spread), and χ²_min follows
// χ²(n − 1 − p_eff) for a star the model describes: p = P(χ²(n − 1 − p_eff) > χ²_min).
// NaN where fewer than one degree of freedom is left.
struct PpcResult {
  double chi2_dof = std::numeric_limits<double>::quiet_NaN();  // χ²_min / (n − 1 − p_eff)
  double p = std::numeric_limits<double>::quiet_NaN();         // NaN: not computed
  double p_eff = std::numeric_limits<double>::quiet_NaN();
  int outside_grid = 0;  // posterior samples outside the spectral grid
};
PpcResult ppc_over_samples(const simulate::Synthesizer& synth, const double* theta, int samples, const int* bands,
                           const float* mag, const float* err, int n, double sigma_floor,
                           std::vector<double>& model_mags, std::vector<double>& work);

}  // namespace irisml::infer
