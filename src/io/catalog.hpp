// Photometric catalogues to run inference on: HDF5, CSV or FITS binary tables
// (docs/catalog_format.md).
//
// Columns are named after filter-registry bands with `_err` companions
// (`PS1_g`, `PS1_g_err`), plus optional `id`, `ra`, `dec` and, for simulated
// catalogues, the true parameters (HDF5 `/true_parameters` [N,5], or columns
// `true_teff`, `true_logg`, `true_mh`, `true_av`, `true_rv`). Other names are
// mapped with CatalogOptions::column_map (`--columns gmag:PS1_g,e_gmag:PS1_g_err`), by
// survey column presets (CatalogOptions::presets, `--columns-preset gaia_dr3,2mass_psc`,
// io/column_presets.hpp), or converted from flux columns (CatalogOptions::flux_columns).
//
// On reading, per star and band: a magnitude that is empty, NaN, ±inf or equal
// to the missing sentinel (default −99) means the band is absent; a present
// magnitude whose error is non-finite or ≤ 0 (the sentinel included) drops the
// band and is counted per filter; kept bands get the filter's catalogue offset
// added to the magnitude and the error floor applied (err = max(err, floor)). Flux
// columns are converted to magnitudes first (a flux <= 0 is counted, not used); presets
// add their survey's missing values and upper-limit convention.
//
// io does not depend on simulate: the caller passes the known filters as
// (registry name, catalog_offset) pairs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/column_presets.hpp"

namespace irisml {

// (filter-registry name, catalog_offset [mag] added to a catalogue magnitude)
using KnownFilters = std::vector<std::pair<std::string, double>>;

struct CatalogOptions {
  // file column name → canonical name (a filter, `<filter>_err`, id, ra, dec, true_<param>)
  std::map<std::string, std::string> column_map;
  double missing_sentinel = -99.0;      // NaN disables the sentinel (NaN and empty always mean missing)
  double error_floor = 0.0;             // [mag]
  bool ignore_unknown_columns = false;  // unknown columns: warning instead of an error
  // Flux columns converted to magnitudes per row (each must be in the file).
  std::vector<FluxColumns> flux_columns;
  // Survey presets, in priority order (ColumnPresets::select): resolved against the file's
  // columns on open. Only their columns present in the file are used; an explicit
  // column_map entry for a preset band's column (or for the band) replaces that band's
  // preset mapping; id/ra/dec come from the first preset that has them in the file.
  std::vector<ColumnPreset> presets;
  // Subtract Gaia EDR3/DR3's parallax zero point of Lindegren et al. (2021) from every
  // row's parallax (io/gaia_zero_point.hpp), computed from the row's Gaia_G band and the
  // kGaiaZeroPointColumns, which the catalogue must then have (the gaia_dr3 preset's own
  // names). A row whose zero point cannot be computed (no G, a two-parameter solution, a
  // missing input) loses its parallax, counted with the other dropped constraints.
  bool gaia_zero_point = false;
};

// The archive columns the Lindegren et al. (2021) zero point needs besides G.
inline constexpr int kGaiaZeroPointInputs = 4;
inline constexpr const char* kGaiaZeroPointColumns[kGaiaZeroPointInputs] = {"nu_eff_used_in_astrometry", "pseudocolour",
                                                                            "ecl_lat", "astrometric_params_solved"};

// Parses "--columns" text: comma-separated `file_name:canonical_name` pairs.
// Throws InputError naming the bad item.
std::map<std::string, std::string> parse_column_map(const std::string& text);

enum class CatalogFormat { Hdf5, Csv, Fits };
const char* to_string(CatalogFormat format);

// Rows [row0, row0 + rows) of a catalogue. Per-star arrays are row-major
// rows × filters (CatalogReader::filters() order).
// Apparent magnitudes a catalogue band may hold (the Sun is -26.7; no survey reaches
// 60): a value outside is a corrupt entry, and its band is dropped, never fed to the
// network (where e.g. 1e30 would turn every summary into NaN).
inline constexpr double kMagnitudeMin = -30.0;
// Longest star id accepted (bytes): outputs store ids fixed-length.
inline constexpr std::size_t kIdMaxBytes = 256;
inline constexpr double kMagnitudeMax = 60.0;

// Star constraints: per-star columns beyond photometry, used by `fit` and
// `sample --importance` (docs/catalog_format.md): a parallax and its error [mas], a
// Gaussian A_V prior and its width [mag], an upper bound on A_V [mag].
inline constexpr int kConstraintCount = 5;
inline constexpr const char* kConstraintNames[kConstraintCount] = {"parallax", "parallax_err", "av_prior",
                                                                   "av_prior_err", "av_max"};
enum ConstraintColumn { kParallax, kParallaxErr, kAvPrior, kAvPriorErr, kAvMax };
// The constraints that come as (value, its error or width) pairs.
inline constexpr std::pair<ConstraintColumn, ConstraintColumn> kConstraintPairs[2] = {{kParallax, kParallaxErr},
                                                                                      {kAvPrior, kAvPriorErr}};

struct CatalogBlock {
  std::uint64_t row0 = 0, rows = 0;
  std::vector<float> mag, err;  // NaN = band absent (either both NaN or neither)
  std::vector<std::string> id;  // empty if the catalogue has no id column
  std::vector<double> ra, dec;  // empty if absent (NaN where a value is missing)
  std::vector<double> truth;    // rows × 5 (teff, logg, mh, av, rv) if has_truth(), else empty
  // rows × kConstraintCount if has_constraints(), else empty; NaN where a row has none.
  // An unusable value is NaN here, counted in constraints_dropped: a parallax error or an
  // A_V prior width that is not finite and > 0 drops the pair; an av_max that is not
  // finite and > 0 drops it. A negative parallax is a measurement and is kept.
  std::vector<double> constraints;
  std::int64_t constraints_dropped = 0;
  // Per filter: bands dropped as unusable (a non-positive or non-finite error, an error
  // above a preset's error_flags_above, or a magnitude outside [kMagnitudeMin, kMagnitudeMax]).
  std::vector<std::int64_t> dropped_unusable;
  // Per filter: bands missing (magnitude or flux empty, null, NaN, inf, the missing
  // sentinel or a preset's missing value), upper limits (a preset with upper_limits: a
  // magnitude whose error is null) and non-positive fluxes. None of them is used.
  std::vector<std::int64_t> missing, upper_limits, nonpositive_flux;

  int bands(std::uint64_t row) const;  // observed bands of one row
};

class CatalogReader {
 public:
  // Opens a catalogue and checks its columns. The format comes from the content
  // (HDF5 / FITS signature) and the extension (.h5/.hdf5, .csv, .fits/.fit/.fts,
  // optionally .gz for FITS). Throws IoError (naming the file) if it cannot be
  // read, is truncated or is not what its extension says; InputError for bad
  // columns (unknown filter → message listing the known filters; a filter
  // without its _err column; ragged CSV rows or text in a numeric CSV column →
  // file, line, column and value).
  static CatalogReader open(const std::string& path, const KnownFilters& known_filters,
                            const CatalogOptions& options = {});

  CatalogReader(CatalogReader&&) noexcept;
  CatalogReader& operator=(CatalogReader&&) noexcept;
  ~CatalogReader();

  const std::string& path() const;
  CatalogFormat format() const;
  std::uint64_t rows() const;
  // Filters present in the file, in file column order (registry names).
  const std::vector<std::string>& filters() const;
  // Catalogue offsets of filters(), same order.
  const std::vector<double>& offsets() const;
  bool has_truth() const;
  bool has_id() const;
  bool has_position() const;     // ra and dec
  bool has_constraints() const;  // any star-constraint column (kConstraintNames)
  bool has_constraint(ConstraintColumn c) const;
  // Columns skipped because ignore_unknown_columns was set (file names).
  const std::vector<std::string>& ignored_columns() const;
  // Columns skipped silently because a column preset knows them: its list of the archive
  // table's other columns, a band replaced by an explicit mapping, or the id/ra/dec of a
  // later preset (file names, file order).
  const std::vector<std::string>& skipped_columns() const;

  // Reads rows [row0, row0 + n); HDF5 reads only those rows. Throws IoError if
  // the range is out of bounds, InputError for bad values (CSV).
  // Not safe to call from several threads at once on one reader.
  CatalogBlock read(std::uint64_t row0, std::uint64_t n) const;

  class Source;  // format back-end (catalog_source.hpp)

 private:
  void read_constraints(std::uint64_t row0, std::uint64_t n, CatalogBlock& block) const;
  void apply_gaia_zero_point(std::uint64_t row0, std::uint64_t n, CatalogBlock& block) const;
  struct Impl;
  explicit CatalogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The truth-parameter names in stored order.
inline constexpr const char* kTruthParameterNames[5] = {"teff", "logg", "mh", "av", "rv"};

}  // namespace irisml
