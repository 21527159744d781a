#include "simulate/interpolation_check.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "simulate/photometry.hpp"

namespace irisml::simulate {
namespace {

const std::vector<double>& axis_values(const SpectralGrid& g, GridAxis axis) {
  return axis == GridAxis::Teff ? g.teff : axis == GridAxis::LogG ? g.logg : g.mh;
}

// The grid with only the nodes j ≡ parity (mod 2) of `axis` kept.
SpectralGrid keep_parity(const SpectralGrid& g, GridAxis axis, std::size_t parity) {
  SpectralGrid sub;
  sub.teff = g.teff;
  sub.logg = g.logg;
  sub.mh = g.mh;
  std::vector<double>& values = axis == GridAxis::Teff ? sub.teff : axis == GridAxis::LogG ? sub.logg : sub.mh;
  std::vector<std::size_t> kept;  // original indices along the axis
  values.clear();
  const std::vector<double>& all = axis_values(g, axis);
  for (std::size_t j = parity; j < all.size(); j += 2) {
    kept.push_back(j);
    values.push_back(all[j]);
  }
  sub.wavelength = g.wavelength;
  const std::size_t nw = g.n_wave();
  sub.flux.assign(sub.n_nodes() * nw, 0.0f);
  sub.valid.assign(sub.n_nodes(), 0);
  for (std::size_t m = 0; m < sub.n_mh(); ++m) {
    for (std::size_t t = 0; t < sub.n_teff(); ++t) {
      for (std::size_t l = 0; l < sub.n_logg(); ++l) {
        std::size_t om = m, ot = t, ol = l;
        (axis == GridAxis::Teff   ? ot
         : axis == GridAxis::LogG ? ol
                                  : om) = kept[axis == GridAxis::Teff   ? t
                                               : axis == GridAxis::LogG ? l
                                                                        : m];
        if (!g.is_valid(om, ot, ol)) continue;
        const std::size_t node = sub.node_index(m, t, l);
        sub.valid[node] = 1;
        const float* f = g.spectrum(om, ot, ol);
        std::copy(f, f + nw, sub.flux.begin() + static_cast<std::ptrdiff_t>(node * nw));
      }
    }
  }
  sub.source = g.source + " (every other " + axis_name(axis) + " node)";
  return sub;
}

}  // namespace

const char* axis_name(GridAxis axis) {
  switch (axis) {
    case GridAxis::Teff: return "Teff";
    case GridAxis::LogG: return "log g";
    case GridAxis::MH: return "[M/H]";
  }
  return "?";
}

std::size_t LeaveOneOut::count(std::size_t band, double teff_min, double teff_max) const {
  std::size_t n = 0;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    if (nodes[k][0] >= teff_min && nodes[k][0] <= teff_max && !std::isnan(dmag[k * bands + band])) ++n;
  }
  return n;
}

double LeaveOneOut::abs_quantile(std::size_t band, double q, double teff_min, double teff_max) const {
  if (band >= bands) fail_input("band index {} is out of range (the check has {} bands)", band, bands);
  if (!(q >= 0 && q <= 1)) fail_input("quantile {} is not in [0, 1]", q);
  std::vector<double> v;
  for (std::size_t k = 0; k < nodes.size(); ++k) {
    const double d = dmag[k * bands + band];
    if (nodes[k][0] >= teff_min && nodes[k][0] <= teff_max && !std::isnan(d)) v.push_back(std::abs(d));
  }
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

LeaveOneOut leave_one_out(const SpectralGrid& grid, const Photometry& photometry, GridAxis axis, Blend blend) {
  if (photometry.grid_wavelength() != grid.wavelength) {
    fail_input("leave-one-out check: the photometry is built on another wavelength grid than grid '{}'", grid.source);
  }
  const std::vector<double>& values = axis_values(grid, axis);
  if (values.size() < 3) {
    fail_input("leave-one-out check: the {} axis of grid '{}' has {} node(s); at least 3 are needed", axis_name(axis),
               grid.source, values.size());
  }
  const auto [i0, i1] = photometry.active_range();
  // sub[p] keeps the nodes of parity p and predicts those of parity 1 − p.
  const SpectralGrid sub[2] = {keep_parity(grid, axis, 0), keep_parity(grid, axis, 1)};
  const GridInterpolator interp[2] = {GridInterpolator(sub[0], i0, i1, blend), GridInterpolator(sub[1], i0, i1, blend)};

  LeaveOneOut out;
  out.bands = photometry.bands();
  std::vector<double> truth(i1 - i0), pred(i1 - i0), mag_truth(out.bands), mag_pred(out.bands);
  GridInterpolator::Cell cell;
  for (std::size_t m = 0; m < grid.n_mh(); ++m) {
    for (std::size_t t = 0; t < grid.n_teff(); ++t) {
      for (std::size_t l = 0; l < grid.n_logg(); ++l) {
        const std::size_t j = axis == GridAxis::Teff ? t : axis == GridAxis::LogG ? l : m;
        if (j == 0 || j + 1 == values.size() || !grid.is_valid(m, t, l)) continue;
        const GridInterpolator& from = interp[1 - j % 2];
        if (!from.locate(grid.teff[t], grid.logg[l], grid.mh[m], cell)) continue;  // a neighbour is missing
        from.interpolate(cell, pred.data());
        const float* f = grid.spectrum(m, t, l) + i0;
        for (std::size_t i = 0; i < truth.size(); ++i) truth[i] = double(f[i]);
        photometry.magnitudes_active(truth.data(), 0.0, 3.1, 0.0, mag_truth.data());
        photometry.magnitudes_active(pred.data(), 0.0, 3.1, 0.0, mag_pred.data());
        out.nodes.push_back({grid.teff[t], grid.logg[l], grid.mh[m]});
        for (std::size_t b = 0; b < out.bands; ++b) {
          const bool finite = std::isfinite(mag_truth[b]) && std::isfinite(mag_pred[b]);
          out.dmag.push_back(finite ? mag_pred[b] - mag_truth[b] : std::nan(""));
        }
      }
    }
  }
  return out;
}

}  // namespace irisml::simulate
