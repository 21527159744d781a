#include "io/gaia_zero_point.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace irisml {
namespace {

constexpr int kNodes = 13;  // G magnitudes of the interpolation nodes
constexpr double kG[kNodes] = {6.0, 10.8, 11.2, 11.8, 12.2, 12.9, 13.1, 15.9, 16.1, 17.5, 19.0, 20.0, 21.0};

// One coefficient table: the (colour, latitude) basis function each column multiplies
// and the coefficients [µas] at every G node (Lindegren et al. 2021, Appendix A).
template <int Terms>
struct Table {
  int colour[Terms], latitude[Terms];
  double q[kNodes][Terms];
};

constexpr Table<8> kFive = {{0, 0, 0, 1, 1, 2, 3, 4},
                            {0, 1, 2, 0, 1, 0, 0, 0},
                            {{-26.98, -9.62, 27.40, -25.1, -0.0, -1257, 0, 0},
                             {-27.23, -3.07, 23.04, 35.3, 15.7, -1257, 0, 0},
                             {-30.33, -9.23, 9.08, -88.4, -11.8, -1257, 0, 0},
                             {-33.54, -10.08, 13.28, -126.7, 11.6, -1257, 0, 0},
                             {-13.65, -0.07, 9.35, -111.4, 40.6, -1257, 0, 0},
                             {-19.53, -1.64, 15.86, -66.8, 20.6, -1257, 0, 0},
                             {-37.99, 2.63, 16.14, -5.7, 14.0, -1257, 107.9, 104.3},
                             {-38.33, 5.61, 15.42, 0, 18.7, -1189, 243.8, 155.2},
                             {-31.05, 2.83, 8.59, 0, 15.5, -1404, 105.5, 170.7},
                             {-29.18, -0.09, 2.41, 0, 24.5, -1165, 189.7, 325.0},
                             {-18.40, 5.98, -6.46, 0, 5.5, 0, 0, 276.6},
                             {-12.65, -4.57, -7.46, 0, 97.9, 0, 0, 0},
                             {-18.22, -15.24, -18.54, 0, 128.2, 0, 0, 0}}};

constexpr Table<7> kSix = {{0, 0, 0, 1, 1, 1, 2},
                           {0, 1, 2, 0, 1, 2, 0},
                           {{-27.85, -7.78, 27.47, -32.1, 14.4, 9.5, -67},
                            {-28.91, -3.57, 22.92, 7.7, 12.6, 1.6, -572},
                            {-26.72, -8.74, 9.36, -30.3, 5.6, 17.2, -1104},
                            {-29.04, -9.69, 13.63, -49.4, 36.3, 17.7, -1129},
                            {-12.39, -2.16, 10.23, -92.6, 19.8, 27.6, -365},
                            {-18.99, -1.93, 15.90, -57.2, -8.0, 19.9, -554},
                            {-38.29, 2.59, 16.20, -10.5, 1.4, 0.4, -960},
                            {-36.83, 4.20, 15.76, 22.3, 11.1, 10.0, -1367},
                            {-28.37, 1.99, 9.28, 50.4, 17.2, 13.7, -1351},
                            {-24.68, -1.37, 3.52, 86.8, 19.8, 21.3, -1380},
                            {-15.32, 4.01, -6.03, 29.2, 14.1, 0.4, -563},
                            {-13.73, -10.92, -8.30, -74.4, 196.4, -42.0, 536},
                            {-29.53, -20.34, -18.74, -39.5, 326.8, -262.3, 1598}}};

template <int Terms>
double evaluate(const Table<Terms>& t, double g, double colour, double sin_beta) {
  const double c[5] = {1.0, std::clamp(colour - 1.48, -0.24, 0.24), std::pow(std::clamp(1.48 - colour, 0.0, 0.24), 3),
                       std::min(0.0, colour - 1.24), std::max(0.0, colour - 1.72)};
  const double b[3] = {1.0, sin_beta, sin_beta * sin_beta - 1.0 / 3.0};
  // The node interval of g (the first or last one outside [6, 21]) and the weight of its
  // upper node, clamped to [0, 1]: constant beyond the ends.
  int i = static_cast<int>(std::upper_bound(kG, kG + kNodes, g) - kG) - 1;
  i = std::clamp(i, 0, kNodes - 2);
  const double h = std::clamp((g - kG[i]) / (kG[i + 1] - kG[i]), 0.0, 1.0);
  double z = 0.0;  // [µas]
  for (int k = 0; k < Terms; ++k) {
    const double q = (1.0 - h) * t.q[i][k] + h * t.q[i + 1][k];
    z += q * c[t.colour[k]] * b[t.latitude[k]];
  }
  return 1e-3 * z;
}

}  // namespace

double gaia_parallax_zero_point(double g, double nu_eff, double pseudocolour, double ecl_lat, double params_solved) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const bool five = params_solved == kGaiaFiveParameter, six = params_solved == kGaiaSixParameter;
  const double colour = five ? nu_eff : pseudocolour;
  if (!(five || six) || !std::isfinite(g) || !std::isfinite(colour) || !std::isfinite(ecl_lat)) return kNaN;
  const double sin_beta = std::sin(ecl_lat * M_PI / 180.0);
  return five ? evaluate(kFive, g, colour, sin_beta) : evaluate(kSix, g, colour, sin_beta);
}

}  // namespace irisml
