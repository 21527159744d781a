// Fitzpatrick (1999) extinction curve with variable R_V, computed exactly as the
// IDL Astronomy Library's FM_UNRED does (docs/model.md §3):
//   x = 1/λ [µm⁻¹]; k(x) = E(λ−V)/E(B−V); A_λ/A_V = (k + R_V)/R_V.
//   UV (λ ≤ 2700 Å): the FM fitting function with C2 = −0.824 + 4.717/R_V,
//   C1 = 2.030 − 3.007 C2, C3 = 3.23, C4 = 0.41, x0 = 4.596, γ = 0.99.
//   Optical/IR (λ > 2700 Å): natural cubic spline in x through the knots of
//   A/E(B−V) = k + R_V at x = 0, 26500, 12200, 6000, 5470, 4670, 4110 Å and
//   the two UV points 2700 and 2600 Å.
#pragma once

#include <cstddef>
#include <vector>

namespace irisml::simulate {

// A_λ/A_V at one wavelength [Å] for this R_V: the scalar reference. Throws
// InputError for R_V ≤ 0 or not finite, and for a wavelength ≤ 0 or not finite.
double f99_ratio(double wavelength_angstrom, double rv);

// The same curve for a fixed set of wavelengths, for the hot path. The curve is
// linear in the spline's knot values and each knot value is a polynomial in
// R_V (or R_V⁻¹), so A_λ/A_V = Σ_p c_p(λ) R_V^p for p = −2 … 3: the c_p are
// solved once here and a call costs 6 multiply-adds per wavelength.
class F99Curve {
 public:
  static constexpr int kMinPower = -2;
  static constexpr std::size_t kTerms = 6;  // powers −2, −1, 0, 1, 2, 3

  F99Curve() = default;
  // Throws InputError for a wavelength ≤ 0 or not finite.
  explicit F99Curve(const std::vector<double>& wavelength_angstrom);

  std::size_t size() const { return n_; }

  // Writes size() values of A_λ/A_V for this R_V. Throws InputError for R_V ≤ 0
  // or not finite.
  void ratios(double rv, double* out) const;

  // The coefficients of R_V^(kMinPower + term) at every wavelength (size() values).
  const double* term(std::size_t term) const { return coeff_.data() + term * n_; }

 private:
  std::size_t n_ = 0;
  std::vector<double> coeff_;  // [term][wavelength]: contiguous per power, so loops vectorise
};

// Throws InputError unless 0 < rv < ∞; `what` names the setting in the message.
void check_rv(double rv, const char* what = "R_V");

}  // namespace irisml::simulate
