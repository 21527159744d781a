// Synthetic photometry on a fixed wavelength grid: exact band integration of
// piecewise-linear spectra through piecewise-linear filters, F99 reddening,
// AB and Vega zero points (conventions: ../shared/data/README.md).
//
// A spectrum given at grid wavelengths λ_i is taken as linear between them, a
// filter as linear between its table rows and 0 outside the table. Then
//   ∫ f(λ) T(λ) λ^p dλ = Σ_i f_i w_i,  w_i = ∫ hat_i(λ) T(λ) λ^p dλ
// (p = 1 photon, 0 energy), and each w_i is integrated exactly on the merged
// breakpoints of grid and filter, where the integrand is a cubic at most.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "simulate/extinction.hpp"
#include "simulate/filters.hpp"

namespace irisml::simulate {

inline constexpr double kSpeedOfLightAngstrom = 2.99792458e18;  // Å/s
inline constexpr double kSolarRadiusCm = 6.957e10;              // IAU nominal R_sun
inline constexpr double kSolarGMCgs = 1.3271244e26;             // IAU nominal G M_sun [cm^3 s^-2]
inline constexpr double kParsecCm = 3.0856775814913673e18;
inline constexpr double kAbZeroPoint = 48.60;                                    // m_AB = −2.5 log10 f_ν − 48.60
inline constexpr const char* kVegaSpectrumFile = "vega/alpha_lyr_stis_011.dat";  // under the data dir

namespace detail {
// The argument range of exp_reduced.
inline constexpr double kExpArgumentLimit = 708.0;
// x clamped to ±kExpArgumentLimit (NaN stays NaN). Kept apart from exp_reduced:
// with the clamp inside, GCC (with its default -ftrapping-math) will not
// vectorise a loop over exp_reduced.
inline double clamp_exp_argument(double x) {
  x = x < -kExpArgumentLimit ? -kExpArgumentLimit : x;
  return x > kExpArgumentLimit ? kExpArgumentLimit : x;
}
// exp(x) for |x| ≤ kExpArgumentLimit, within a few 1e-16 relative of the exact
// value, written so that a loop over it vectorises: Cody–Waite reduction
// x = n ln2 + r, |r| ≤ ln2/2, a degree-12 Taylor polynomial for e^r (truncation
// < 2e-16) and 2^n built in the exponent bits. Outside the range the result is
// garbage: clamp first (a huge extinction then gives ~1e-308, never 0 or NaN).
inline double exp_reduced(double x) {
  constexpr double kLog2e = 1.4426950408889634074;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // ln2 split: hi has 11 trailing zero bits
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kShift = 6755399441055744.0;  // 1.5·2^52: adding it rounds to an integer
  const double t = x * kLog2e + kShift;
  const double n = t - kShift;
  const double r = (x - n * kLn2Hi) - n * kLn2Lo;
  double p = 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  std::uint64_t tb, sb;
  std::memcpy(&tb, &t, sizeof tb);
  std::memcpy(&sb, &kShift, sizeof sb);
  // the low bits of t hold n; 2^n has biased exponent n + 1023
  const std::uint64_t bits = (tb - sb + 1023u) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
}  // namespace detail

// −5 log10(R/d): added to the magnitudes of a surface flux to get those of a
// star of radius R [R_sun] at distance d [pc]. Throws InputError unless both
// are finite and > 0.
double dilution_mag(double radius_rsun, double distance_pc);

// Un-normalised weights w_i (size of the grid) of a band on a grid: Σ_i f_i w_i
// = ∫ f T λ^p dλ for the piecewise-linear f through (λ_i, f_i). Throws
// InputError if the grid is not strictly increasing and positive, or if the
// part of the filter where T > 0 reaches beyond the grid. `name` is for messages.
std::vector<double> band_weights(const std::vector<double>& grid_wavelength, const FilterCurve& curve,
                                 FilterSpec::Detector detector, const std::string& name = "filter");

// ∫ T(λ) λ^q dλ over the filter table, exactly (q = −2 … 2; negative powers
// analytically).
double filter_moment(const FilterCurve& curve, int q);

// Pivot wavelength [Å]: λp² = ∫ W dλ / ∫ W λ⁻² dλ with W = T λ^p, i.e.
// ∫ T λ dλ / ∫ T/λ dλ for photon counters; it converts <f_λ> to <f_ν> =
// <f_λ> λp²/c, so a flat f_ν has AB magnitude 0 under either convention.
double pivot_wavelength(const FilterCurve& curve, FilterSpec::Detector detector);

// A tabulated spectrum: wavelength [Å] strictly increasing, F_λ ≥ 0.
struct Spectrum {
  std::vector<double> wavelength;
  std::vector<double> flux;
};

// Reads a two-column text spectrum (wavelength [Å], F_λ), validated as filter
// curves are. `what` names it in messages.
Spectrum load_spectrum(const std::string& path, const std::string& what = "spectrum");

// Magnitudes of spectra on one wavelength grid through a fixed list of bands:
//   mag_b = −2.5 log10(Σ_i w_bi F_i 10^(−0.4 A_V a_i(R_V))) + zp_b + log_scale_mag
// with w_b normalised (Σ_i w_bi = 1), so Σ_i w_bi F_i = <f_λ> in the band, and
//   AB:   zp_b = −2.5 log10(λp²/c) − 48.60
//   Vega: zp_b = +2.5 log10(<f_Vega>) + vega_magnitude,
// where <f_Vega> is Vega's spectrum integrated the same way on its own grid.
// catalog_offset is not applied: magnitudes are on the band's system.
class Photometry {
 public:
  struct Band {
    FilterSpec spec;  // spec.name names the band
    FilterCurve curve;
  };

  Photometry(std::vector<double> grid_wavelength, const std::vector<Band>& bands, const Spectrum& vega);
  // Curves from the registry; Vega from `vega_path`, or data_dir/kVegaSpectrumFile if empty.
  Photometry(std::vector<double> grid_wavelength, const FilterRegistry& registry,
             const std::vector<std::string>& band_names, const std::string& vega_path = "");

  std::size_t bands() const { return specs_.size(); }
  const FilterSpec& spec(std::size_t band) const { return specs_.at(band); }
  const std::vector<double>& grid_wavelength() const { return grid_; }

  // [first, second): the grid indices any band touches (non-zero weight). Only
  // these fluxes are read, so a caller may interpolate spectra only there.
  std::pair<std::size_t, std::size_t> active_range() const { return {active_begin_, active_end_}; }
  std::size_t active_size() const { return active_end_ - active_begin_; }
  // The grid indices band b touches, [first, second).
  std::pair<std::size_t, std::size_t> band_range(std::size_t band) const;
  // The normalised weights of band b on its range (band_range(b) sized).

  // flux_on_grid: surface F_λ [erg s⁻¹ cm⁻² Å⁻¹] at EVERY grid wavelength
  // (index 0 = grid_wavelength()[0]); only the active range is read. Writes
  // bands() magnitudes. Throws InputError for A_V not finite or R_V ≤ 0. A zero
  // band flux gives +inf. Thread-safe (scratch space is per thread).
  void magnitudes(const double* flux_on_grid, double av, double rv, double log_scale_mag, double* out) const {
    magnitudes_active(flux_on_grid + active_begin_, av, rv, log_scale_mag, out);
  }
  // The same, with flux_active[0] at grid index active_range().first
  // (active_size() values): what GridInterpolator(grid, first, second) writes.
  void magnitudes_active(const double* flux_active, double av, double rv, double log_scale_mag, double* out) const;
  // The same from ln F_λ on the active range (what GridInterpolator::interpolate_log
  // writes): F_λ 10^(−0.4 A_V a) is taken as exp(ln F_λ − 0.4 ln10 A_V a) in one
  // pass, the argument clamped to ±708 (so F = 0, i.e. ln F = −inf, gives ~1e-308).
  void magnitudes_log_active(const double* log_flux_active, double av, double rv, double log_scale_mag,
                             double* out) const;

  double pivot(std::size_t band) const { return pivot_.at(band); }            // Å
  double zero_point(std::size_t band) const { return zero_point_.at(band); }  // zp_b of the band's system
  double ab_zero_point(std::size_t band) const { return ab_zero_point_.at(band); }
  double vega_flux(std::size_t band) const { return vega_flux_.at(band); }  // <f_Vega>
  // The AB magnitude of Vega in band b: −2.5 log10(<f_Vega>) − 2.5 log10(λp²/c) − 48.60
  // (the AB − Vega offset of a survey whose Vega magnitude is 0).
  double ab_minus_vega(std::size_t band) const;

 private:
  void build(const std::vector<Band>& bands, const Spectrum& vega);
  // Band magnitudes of the reddened flux on the active range.
  void band_magnitudes(const double* reddened, double log_scale_mag, double* out) const;

  std::vector<double> grid_;
  std::vector<FilterSpec> specs_;
  std::size_t active_begin_ = 0, active_end_ = 0;
  F99Curve curve_;                       // on the active range
  std::vector<std::size_t> band_begin_;  // grid index of each band's first weight
  std::vector<std::size_t> band_end_;
  std::vector<std::size_t> weight_offset_;  // into weights_
  std::vector<double> weights_;             // all bands, normalised
  std::vector<double> pivot_, zero_point_, ab_zero_point_, vega_flux_;
};

}  // namespace irisml::simulate
