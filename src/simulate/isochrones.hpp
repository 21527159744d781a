// A stellar-evolution prior (docs/isochrone_prior.md): stellar tracks (MIST v1.1,
// data/isochrones/) turned into the density of stars in (log10 Teff, log g) at each
// track [Fe/H], for a Kroupa (2001) initial-mass function and a constant star-formation
// rate over [age_min, age_max], with the current mass of the stars in each cell.
//
// Weights. A track of initial mass M_k stands for the IMF's mass between the midpoints
// to its neighbours (mirrored at the ends); each piece of it (linear in age between two stored points) holds
// the stars whose age falls in that piece, ∝ its overlap with [age_min, age_max]. The
// pieces are cut into steps shorter than a quarter cell and dropped into the lattice
// cell of their midpoint; the lattice is then smoothed by a Gaussian (in cells) in each
// axis. Each cell also accumulates the first and second moments of log10 M (M the current
// mass, g R² / G) and log10 age [yr], cross term included, so that a cell gives the mean
// and spread of its stars' log mass and log age and how the two go together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace irisml::simulate {

// Tracks as read from a text file (plain or gzip): '#' comment lines, a header
// `feh,mass_init,log_age,log_teff,log_g,log_r`, then one row per point; a track is a run
// of rows with the same (feh, mass_init), in increasing age.
struct StellarTracks {
  struct Point {
    double log_age = 0, log_teff = 0, log_g = 0, log_r = 0;
  };
  struct Track {
    double feh = 0, mass_init = 0;
    std::vector<Point> points;
  };
  std::vector<Track> tracks;   // grouped by feh (ascending), then mass (ascending)
  std::vector<double> feh;     // the distinct [Fe/H] values, ascending
  std::string source;          // the path read
  std::uint64_t checksum = 0;  // FNV-1a 64 over the decompressed text
  std::size_t rows = 0;

  // Throws InputError naming the file and line of the first malformed row.
  static StellarTracks load(const std::string& path);
  // The checksum as recorded in prior settings: its top 52 bits, exact as a double.
  double checksum_value() const { return static_cast<double>(checksum >> 12); }
};

struct IsochroneSettings {
  double age_min = 0.0, age_max = 13.5;  // [Gyr] constant star formation over this range
  double smooth_log_teff = 0.01;         // [dex] Gaussian smoothing of the density
  double smooth_logg = 0.1;              // [dex]
};

// The lattice: cells of 0.005 dex in log10 Teff and 0.05 dex in log g over a given box,
// one layer per track [Fe/H]. Each layer's weights are raw (not normalised: the prior
// normalises them over its support).
//
// Settings are checked by PriorConfig::validate() before a table is built.
class IsochroneTable {
 public:
  static constexpr double kCellLogTeff = 0.005, kCellLogg = 0.05;

  IsochroneTable(const StellarTracks& tracks, const IsochroneSettings& settings, double log_teff_lo, double log_teff_hi,
                 double logg_lo, double logg_hi);

  int n_teff() const { return nt_; }
  int n_logg() const { return ng_; }
  int layers() const { return static_cast<int>(feh_.size()); }
  const std::vector<double>& feh() const { return feh_; }
  double log_teff0() const { return t0_; }
  double logg0() const { return g0_; }
  // Cell index of a point, −1 outside the lattice.
  long cell(double log_teff, double logg) const;
  std::size_t cells() const { return static_cast<std::size_t>(nt_) * static_cast<std::size_t>(ng_); }
  // The moments of a cell's stars: means, variances and the covariance of log10 M [M_sun]
  // and log10 age [yr].
  struct Moments {
    double mean_log_mass = 0, var_log_mass = 0, mean_log_age = 0, var_log_age = 0, cov = 0;
  };
  // Layer k: weight and moments per cell (row-major in log g; zero where the weight is).
  const std::vector<double>& weight(int k) const { return weight_[static_cast<std::size_t>(k)]; }
  const std::vector<Moments>& moments(int k) const { return moments_[static_cast<std::size_t>(k)]; }

 private:
  int nt_ = 0, ng_ = 0;
  double t0_ = 0, g0_ = 0;
  std::vector<double> feh_;
  std::vector<std::vector<double>> weight_;
  std::vector<std::vector<Moments>> moments_;
};

// Kroupa (2001) IMF, ξ(M) ∝ M^−1.3 below 0.5 M_sun and M^−2.3 above (continuous):
// the number of stars with initial mass in [m1, m2], up to a constant.
double kroupa_number(double m1, double m2);

// log10 of the current mass [M_sun] of a star of log g [cgs] and log10 R [R_sun].
double log_mass_of(double logg, double log_r);

}  // namespace irisml::simulate
