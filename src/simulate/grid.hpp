// The model-atmosphere grid: import (CK04 FITS collection, or a plain table a
// user builds from BOSZ or another library), the project's HDF5 grid file, and
// multilinear interpolation in (log10 Teff, log g, [M/H]).
//
// File schema and the table format: docs/grid_format.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace irisml::simulate {

inline constexpr const char* kGridFormatName = "irisml-spectral-grid";
inline constexpr std::int64_t kGridFormatVersion = 1;

struct SpectralGrid {
  std::vector<double> teff, logg, mh;  // ascending axes: K, dex (cgs), dex
  std::vector<double> wavelength;      // Å, strictly ascending
  // [mh][teff][logg][wavelength]: surface F_λ in erg s⁻¹ cm⁻² Å⁻¹; all zero where invalid.
  std::vector<float> flux;
  std::vector<std::uint8_t> valid;  // [mh][teff][logg]: 1 = a model exists there
  std::string source;               // where it was imported from (path as given)
  std::string provenance;           // library, reference, importer
  std::string checksum;             // compute_checksum() of the content: "fnv1a64:<16 hex digits>"

  std::size_t n_teff() const { return teff.size(); }
  std::size_t n_logg() const { return logg.size(); }
  std::size_t n_mh() const { return mh.size(); }
  std::size_t n_wave() const { return wavelength.size(); }
  std::size_t n_nodes() const { return teff.size() * logg.size() * mh.size(); }  // lattice points
  std::size_t n_valid() const;                                                   // models present

  std::size_t node_index(std::size_t m, std::size_t t, std::size_t g) const {
    return (m * teff.size() + t) * logg.size() + g;
  }
  bool is_valid(std::size_t m, std::size_t t, std::size_t g) const { return valid[node_index(m, t, g)] != 0; }
  const float* spectrum(std::size_t m, std::size_t t, std::size_t g) const {
    return flux.data() + node_index(m, t, g) * wavelength.size();
  }

  // Throws InputError (naming `source`) if the shapes disagree, an axis is not
  // strictly ascending, a Teff is not positive or a value is not finite.
  void check() const;

  // The smallest wavelength index range [i0, i1) whose points cover
  // [lambda_lo, lambda_hi] Å (the grid points bracketing both ends included,
  // clipped to the grid) — the range a GridInterpolator needs for filters
  // spanning that interval. Throws InputError if lambda_lo > lambda_hi.
  std::pair<std::size_t, std::size_t> covering_range(double lambda_lo, double lambda_hi) const;

  // FNV-1a (64 bit) over the axes, wavelength, flux and mask, serialised
  // little-endian (docs/grid_format.md): same content, same checksum.
  std::string compute_checksum() const;

  // The union, in log10 Teff, of the Teff cells at this log g inside which a
  // point is interpolable for EVERY [M/H] of the axis: the prior may draw
  // log10 Teff uniformly over it and any [M/H] afterwards. Sorted, disjoint,
  // adjacent cells merged. Empty if log g is outside the axis.
  std::vector<std::pair<double, double>> log_teff_intervals(double logg) const;
};

// Reads the STScI CDBS ck04models collection: `dir`/ck<m|p>NN/ck<m|p>NN_<Teff>.fits,
// TEFF and LOG_Z from each primary header, HDU 1 columns WAVELENGTH and gNN
// (log g = NN/10). An all-zero flux column is a missing model. Throws
// InputError naming the file (and column) for anything unexpected.
SpectralGrid import_ck04(const std::string& dir);

// Reads a user grid (BOSZ or any library) in the table format of
// docs/grid_format.md: either an HDF5 file (teff, logg, mh [n], wavelength
// [n_wave], flux [n, n_wave]) or a text manifest listing "teff logg mh file"
// per model with two-column (wavelength, flux) spectra. The format is chosen
// by the HDF5 signature.
SpectralGrid import_table(const std::string& path);

// The project's grid file (docs/grid_format.md). save_grid writes to
// partial_path(path) and renames at the end; load_grid verifies the format,
// shapes and checksum (mismatch → IoError).
void save_grid(const SpectralGrid& grid, const std::string& path);
SpectralGrid load_grid(const std::string& path);

// How GridInterpolator blends the 8 corner spectra with its multilinear weights w_k
// (docs/interpolation.md).
enum class Blend {
  // F = exp(Σ_k w_k ln max(F_k, kFluxFloor)): the default, and what the simulator
  // uses. Flux is strongly convex in Teff; blending it linearly makes cool
  // mid-cell spectra too bright in the blue (docs/interpolation.md).
  LogFlux,
  // F = Σ_k w_k F_k: the scheme before issue 10, kept only to compare against
  // (bench/interpolation.cpp, tests/unit/simulate/interpolation_test.cpp).
  LinearFlux,
};

// The names the CLI and training-set files use: "log-flux", "linear-flux".
inline const char* blend_name(Blend blend) { return blend == Blend::LinearFlux ? "linear-flux" : "log-flux"; }

// The flux a zero (or negative) model flux counts as in the log blend: the
// smallest normal float, erg s⁻¹ cm⁻² Å⁻¹. Blended with a positive flux it pulls
// the result towards 0 geometrically; where all corners are 0 the result is 0,
// and a node is returned unchanged.
inline constexpr double kFluxFloor = 1.17549435082228750797e-38;

// Interpolation with multilinear weights in (log10 Teff, log g, [M/H]) over the
// lattice, blending ln F_λ (Blend::LogFlux, the default) or F_λ, restricted to
// wavelength indices [i0, i1). Keeps a pointer to the grid,
// which must outlive it and not change. With Blend::LogFlux the constructor
// takes ln F of every valid model on [i0, i1) once and keeps it as float
// (n_valid() × (i1 − i0) × 4 bytes: 18.6 MB for the whole CK04 grid).
class GridInterpolator {
 public:
  // The 8 surrounding models: their node indices (SpectralGrid::node_index),
  // the offsets of their rows (already at i0) in grid.flux, and their weights
  // (summing to 1). On a node of an axis both corners along it are that node,
  // with the whole weight on one.
  struct Cell {
    std::array<std::size_t, 8> offset{};
    std::array<double, 8> weight{};
    std::array<std::size_t, 8> node{};
  };

  explicit GridInterpolator(const SpectralGrid& grid, Blend blend = Blend::LogFlux);
  GridInterpolator(const SpectralGrid& grid, std::size_t i0, std::size_t i1, Blend blend = Blend::LogFlux);

  std::size_t size() const { return i1_ - i0_; }
  const double* wavelength() const { return grid_->wavelength.data() + i0_; }  // size() values
  const SpectralGrid& grid() const { return *grid_; }
  Blend blend() const { return blend_; }

  // False if the point is outside an axis (or not finite) or any model it
  // needs is missing. A point on the upper edge of an axis is inside.
  bool locate(double teff, double logg, double mh, Cell& cell) const;
  // Writes size() doubles: the interpolated F_λ on wavelengths [i0, i1). A
  // point on a node (all three axes) gets that model's spectrum exactly.
  void interpolate(const Cell& cell, double* out) const;
  // Writes size() doubles: ln of the interpolated F_λ, a zero flux as
  // ln kFluxFloor (Blend::LogFlux: the blend itself, without the exp — feed it
  // to Photometry::magnitudes_log_active, which folds the exp into the
  // reddening's). On a node: ln of that model's F_λ, in double.
  void interpolate_log(const Cell& cell, double* out) const;
  // locate + interpolate; false (out untouched) outside the grid.
  bool spectrum(double teff, double logg, double mh, double* out) const;

 private:
  const SpectralGrid* grid_;
  std::size_t i0_, i1_;
  Blend blend_;
  std::vector<double> log_teff_;
  // Blend::LogFlux: ln max(F, kFluxFloor) on [i0, i1), one row per valid model,
  // row log_row_[node] (unused for invalid nodes).
  std::vector<float> log_flux_;
  std::vector<std::uint32_t> log_row_;
};

}  // namespace irisml::simulate
