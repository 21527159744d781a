#include "io/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/text.hpp"
#include "core/log.hpp"
#include "io/catalog_source.hpp"
#include "io/fits.hpp"
#include "io/gaia_zero_point.hpp"
#include "io/hdf5.hpp"
#include "io/text_lines.hpp"

namespace irisml {

namespace {

std::string extension_of(const std::string& path) {
  std::string name = lower(path);
  auto slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  if (ends_with(name, ".gz")) name = name.substr(0, name.size() - 3);
  auto dot = name.find_last_of('.');
  return dot == std::string::npos ? "" : name.substr(dot + 1);
}

bool starts_with_bytes(const std::string& path, const char* magic, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string buf(n, '\0');
  if (!in.read(buf.data(), static_cast<std::streamsize>(n))) return false;
  return std::memcmp(buf.data(), magic, n) == 0;
}

}  // namespace

const char* to_string(CatalogFormat format) {
  switch (format) {
    case CatalogFormat::Hdf5: return "HDF5";
    case CatalogFormat::Csv: return "CSV";
    case CatalogFormat::Fits: return "FITS";
  }
  return "?";
}

std::map<std::string, std::string> parse_column_map(const std::string& text) {
  std::map<std::string, std::string> out;
  std::string item;
  auto flush = [&](const std::string& raw) {
    std::string entry = trim(raw);
    if (entry.empty()) return;
    auto colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size() ||
        entry.find(':', colon + 1) != std::string::npos) {
      fail_input("--columns item '{}' is not of the form FILE_COLUMN:NAME (e.g. gmag:PS1_g,e_gmag:PS1_g_err)", entry);
    }
    std::string from = trim(entry.substr(0, colon)), to = trim(entry.substr(colon + 1));
    if (out.count(from)) fail_input("--columns maps column '{}' twice", from);
    out[from] = to;
  };
  for (char c : text) {
    if (c == ',') {
      flush(item);
      item.clear();
    } else {
      item += c;
    }
  }
  flush(item);
  return out;
}

int CatalogBlock::bands(std::uint64_t row) const {
  if (rows == 0) return 0;
  const std::size_t f = mag.size() / rows;
  int n = 0;
  for (std::size_t j = 0; j < f; ++j) n += std::isnan(mag[row * f + j]) ? 0 : 1;
  return n;
}

namespace {

// True if the first kilobyte is printable text (a CSV file under another extension).
bool looks_like_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char buffer[1024];
  in.read(buffer, sizeof buffer);
  const auto n = in.gcount();
  if (n <= 0) return false;
  for (std::streamsize i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(buffer[i]);
    if (c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f) return false;
  }
  return true;
}

std::unique_ptr<CatalogReader::Source> open_source(const std::string& path, CatalogFormat& format) {
  {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      fail_input("catalogue '{}' is a directory; give a catalogue file (.h5/.hdf5, .csv/.ecsv[.gz] or .fits)", path);
    }
    if (!std::filesystem::exists(path, ec)) fail_input("catalogue '{}' does not exist", path);
    std::ifstream probe(path, std::ios::binary);
    if (!probe) fail_io("cannot open catalogue '{}': file unreadable", path);
  }
  const std::string ext = extension_of(path);
  const bool hdf5_sig = h5::is_hdf5(path);
  const bool fits_sig = starts_with_bytes(path, "SIMPLE  =", 9);
  if (hdf5_sig) {
    format = CatalogFormat::Hdf5;
    return open_hdf5_catalog(path);
  }
  if (ext == "h5" || ext == "hdf5" || ext == "he5") {
    fail_input("catalogue '{}' is not an HDF5 file (no HDF5 signature){}", path,
               fits_sig                ? "; it is a FITS file: rename it to .fits"
               : looks_like_text(path) ? "; it holds text: a CSV catalogue must be named .csv"
                                       : "; truncated, or another format?");
  }
  if (fits_sig || ((ext == "fits" || ext == "fit" || ext == "fts") && is_gzip_file(path))) {
    format = CatalogFormat::Fits;
    return open_fits_catalog(path);
  }
  if (ext == "fits" || ext == "fit" || ext == "fts") {
    fail_input("catalogue '{}' is not a FITS file (it does not start with 'SIMPLE  ='){}", path,
               looks_like_text(path) ? "; it holds text: a CSV catalogue must be named .csv"
                                     : "; truncated, or another format?");
  }
  if (ext == "csv" || ext == "ecsv" || ext == "txt") {
    format = CatalogFormat::Csv;
    return open_csv_catalog(path);
  }
  fail_input(
      "catalogue '{}': cannot tell the format from extension '.{}'; use .h5/.hdf5 (HDF5), .csv/.ecsv (CSV or "
      "ECSV, optionally .gz) or .fits/.fit (FITS binary table)",
      path, ext);
}

}  // namespace

// ---------------------------------------------------------------------------

namespace {

// Where one output band's values come from.
struct BandSource {
  std::string value_column, error_column;  // the magnitude (or flux) and its error
  bool flux = false;                       // converted with the zero point
  double zero_point = 0.0, zero_point_error = 0.0;
  const ColumnPreset* preset = nullptr;  // the preset it came from (its conventions), or none
};

bool same_value(double v, double reference) {
  return std::fabs(v - reference) <= 1e-6 * std::max(1.0, std::fabs(reference));
}

// 2.5 / ln 10: d(mag) = kPogson * dF / F.
const double kPogson = 2.5 / std::log(10.0);

}  // namespace

struct CatalogReader::Impl {
  std::string path;
  CatalogFormat format = CatalogFormat::Csv;
  std::unique_ptr<Source> source;
  CatalogOptions options;
  std::vector<std::string> filters;  // registry names, output order
  std::vector<double> offsets;       // per filter
  std::vector<BandSource> sources;   // per filter
  std::string id_column, ra_column, dec_column;
  std::string constraint_columns[kConstraintCount];      // file columns ("" = absent)
  std::string zero_point_columns[kGaiaZeroPointInputs];  // with options.gaia_zero_point only
  int gaia_g = -1;                                       // Gaia_G's index in filters, or −1
  std::vector<std::string> truth_columns;                // 5 file columns (CSV/FITS), empty otherwise
  bool truth_matrix = false;
  std::vector<std::string> ignored, skipped;

  // A value equal to one of the band's preset missing values (-999, -9999, ...).
  bool preset_missing(const BandSource& s, double v) const {
    if (!s.preset) return false;
    return std::any_of(s.preset->missing_values.begin(), s.preset->missing_values.end(),
                       [&](double m) { return same_value(v, m); });
  }
  // A magnitude or flux that is not there: empty, null, NaN, ±inf, the magnitude sentinel
  // (magnitudes only) or a preset missing value.
  bool is_missing(const BandSource& s, double v) const {
    if (!std::isfinite(v)) return true;
    const double sentinel = options.missing_sentinel;
    if (!s.flux && std::isfinite(sentinel) && same_value(v, sentinel)) return true;
    return preset_missing(s, v);
  }
};

CatalogReader::CatalogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CatalogReader::CatalogReader(CatalogReader&&) noexcept = default;
CatalogReader& CatalogReader::operator=(CatalogReader&&) noexcept = default;
CatalogReader::~CatalogReader() = default;

namespace {

// What CatalogReader::open learns from a file's column names.
struct ResolvedColumns {
  std::vector<std::string> filters;  // registry names, output order
  std::vector<double> offsets;       // per filter
  std::vector<BandSource> sources;   // per filter
  std::string id_column, ra_column, dec_column;
  std::string constraint_columns[kConstraintCount];      // file columns ("" = absent)
  std::string zero_point_columns[kGaiaZeroPointInputs];  // file columns ("" = absent)
  std::vector<std::string> truth_columns;                // 5 file columns, or none
  std::vector<std::string> ignored, skipped;
};

// The star-constraint index of a canonical (lower-case) name, or −1.
int constraint_index(const std::string& lc) {
  for (int c = 0; c < kConstraintCount; ++c)
    if (lc == kConstraintNames[c]) return c;
  return -1;
}

// The index in kGaiaZeroPointColumns of a canonical (lower-case) name, or −1.
int zero_point_index(const std::string& lc) {
  for (int c = 0; c < kGaiaZeroPointInputs; ++c)
    if (lc == kGaiaZeroPointColumns[c]) return c;
  return -1;
}

// Resolves a catalogue's columns in named steps (CatalogReader::open calls them in
// order): the explicit --columns and flux mappings, the column presets' bands, their
// id/ra/dec and their lists of other columns, then every column classified (a band, its
// error, id, ra, dec, a truth column, skipped or unknown) and the result checked.
class ColumnResolver {
 public:
  ColumnResolver(const std::string& path, const KnownFilters& known_filters, const CatalogOptions& options,
                 const std::vector<std::string>& names, bool case_insensitive)
      : path_(path), known_(known_filters), opt_(options), names_(names), ci_(case_insensitive) {}

  void map_explicit_columns();
  void map_explicit_fluxes();
  void map_preset_bands();
  void map_preset_positions();
  void skip_preset_columns();
  // `hdf5_others`: an HDF5 file's datasets that are not catalogue columns, with why.
  ResolvedColumns classify(bool registry_order, const std::vector<std::pair<std::string, std::string>>& hdf5_others);

 private:
  std::string known_list() const;
  int find_filter(const std::string& name) const;
  const std::string& filter_name(int f) const { return known_[static_cast<std::size_t>(f)].first; }
  std::string canonical_target(const std::string& to) const;
  std::string column_named(const std::string& want, const std::string& who) const;
  std::string origin(const std::string& column) const;
  void add_preset_band(const ColumnPreset& p, const std::string& band_name, const std::string& value_want,
                       const std::string& error_want, const FluxColumns* flux);
  void claim(const std::string& canonical, const std::string& column);
  void check_unknown(const std::vector<std::string>& unknown, ResolvedColumns& out) const;
  void check_pairs() const;
  void check_positions_and_truth(ResolvedColumns& out, const std::string (&truth_cols)[5]) const;

  const std::string& path_;
  const KnownFilters& known_;
  const CatalogOptions& opt_;
  const std::vector<std::string>& names_;
  const bool ci_;

  std::map<std::string, std::string> canon_of_;           // file column → the name it stands for
  std::map<std::string, std::string> origin_of_;          // file column → " (column preset 'x')"
  std::map<std::string, FluxColumns> flux_of_;            // flux column → its conversion
  std::map<std::string, const ColumnPreset*> preset_of_;  // value column of a preset band → the preset
  std::set<std::string> explicit_columns_, explicit_targets_, skipped_;
  std::map<int, std::string> mag_of_, err_of_;  // known-filter index → file column
  std::map<std::string, std::string> claimed_;  // canonical → file column
};

std::string ColumnResolver::known_list() const {
  std::vector<std::string> known_names;
  for (const auto& kf : known_) known_names.push_back(kf.first);
  return fmt::format("{}", fmt::join(known_names, ", "));
}

// Filter lookup: exact, then case-insensitive (FITS headers are often upper case); -1
// when absent or ambiguous.
int ColumnResolver::find_filter(const std::string& name) const {
  for (std::size_t i = 0; i < known_.size(); ++i)
    if (known_[i].first == name) return static_cast<int>(i);
  int hit = -1;
  for (std::size_t i = 0; i < known_.size(); ++i) {
    if (iequals(known_[i].first, name)) {
      if (hit >= 0) return -1;  // ambiguous
      hit = static_cast<int>(i);
    }
  }
  return hit;
}

// A mapping target in canonical spelling: a filter (or <filter>_err) as the registry
// writes it, anything else in lower case.
std::string ColumnResolver::canonical_target(const std::string& to) const {
  if (int f = find_filter(to); f >= 0) return filter_name(f);
  if (ends_with(lower(to), "_err")) {
    if (int g = find_filter(to.substr(0, to.size() - 4)); g >= 0) return filter_name(g) + "_err";
  }
  return lower(to);
}

// The file column a preset (or flux mapping) names: exact, else the one matching
// case-insensitively; "" if absent.
std::string ColumnResolver::column_named(const std::string& want, const std::string& who) const {
  std::vector<std::string> hits;
  for (const auto& n : names_) {
    if (n == want) return n;
    if (iequals(n, want)) hits.push_back(n);
  }
  if (hits.size() > 1) {
    fail_input(
        "catalogue '{}': {} column '{}' matches columns {} when case is ignored; keep one of them, or map the one "
        "to use with --columns",
        path_, who, want, fmt::join(hits, ", "));
  }
  return hits.empty() ? std::string() : hits.front();
}

std::string ColumnResolver::origin(const std::string& column) const {
  auto it = origin_of_.find(column);
  return it == origin_of_.end() ? std::string() : it->second;
}

// --columns keys must exist in the file.
void ColumnResolver::map_explicit_columns() {
  for (const auto& [from, to] : opt_.column_map) {
    bool found = false;
    for (const auto& n : names_) {
      if (ci_ ? iequals(n, from) : n == from) {
        canon_of_[n] = to;
        explicit_columns_.insert(n);
        found = true;
      }
    }
    if (!found) {
      fail_input("--columns maps '{}' to '{}', but catalogue '{}' has no column '{}'; its columns: {}", from, to, path_,
                 from, fmt::join(names_, ", "));
    }
    explicit_targets_.insert(canonical_target(to));
  }
}

// Flux columns given explicitly: both columns must be there.
void ColumnResolver::map_explicit_fluxes() {
  for (const auto& fc : opt_.flux_columns) {
    const int f = find_filter(fc.band);
    if (f < 0) {
      fail_input("flux column '{}' is mapped to '{}', which is not a known filter; known filters: {}", fc.flux, fc.band,
                 known_list());
    }
    const std::string flux = column_named(fc.flux, "flux"), error = column_named(fc.error, "flux error");
    if (flux.empty() || error.empty()) {
      fail_input("catalogue '{}' has no column '{}' (the {} of {}); its columns: {}", path_,
                 flux.empty() ? fc.flux : fc.error, flux.empty() ? "flux" : "flux error", filter_name(f),
                 fmt::join(names_, ", "));
    }
    const std::string& band = filter_name(f);
    canon_of_[flux] = band;
    canon_of_[error] = band + "_err";
    flux_of_[flux] = fc;
    flux_of_[flux].band = band;
    explicit_columns_.insert({flux, error});
    explicit_targets_.insert({band, band + "_err"});
  }
}

// One band of preset `p` (a magnitude, or a flux when `flux` is set): mapped when its
// columns are in the file, unless an explicit mapping replaces it.
void ColumnResolver::add_preset_band(const ColumnPreset& p, const std::string& band_name, const std::string& value_want,
                                     const std::string& error_want, const FluxColumns* flux) {
  const std::string who = fmt::format("column preset '{}'", p.name);
  const int f = find_filter(band_name);
  if (f < 0) {
    fail_input("{} ({}) maps '{}' to band '{}', which is not in the filter registry; known filters: {}", who, p.origin,
               value_want, band_name, known_list());
  }
  const std::string& band = filter_name(f);
  const std::string value = column_named(value_want, who), error = column_named(error_want, who);
  if (value.empty() && error.empty()) return;  // not in this file
  if (explicit_columns_.count(value) || explicit_columns_.count(error) || explicit_targets_.count(band) ||
      explicit_targets_.count(band + "_err")) {  // the explicit mapping wins
    for (const auto& c : {value, error})
      if (!c.empty() && !explicit_columns_.count(c)) skipped_.insert(c);
    return;
  }
  const char* kind = flux ? "flux" : "magnitude";
  if (error.empty()) {
    fail_input(
        "catalogue '{}': column '{}' is the {} of {} in {} ({}), but the file has no error column '{}'; every {} "
        "needs its error (add the column, or map the band with --columns FILE_COLUMN:{},FILE_COLUMN:{}_err)",
        path_, value, kind, band, who, p.origin, error_want, kind, band, band);
  }
  if (value.empty()) {
    fail_input(
        "catalogue '{}': column '{}' is the error of {} in {} ({}), but the file has no {} column '{}'; an error "
        "needs its {} (add the column, or map the band with --columns FILE_COLUMN:{},FILE_COLUMN:{}_err)",
        path_, error, band, who, p.origin, kind, value_want, kind, band, band);
  }
  canon_of_[value] = band;
  canon_of_[error] = band + "_err";
  origin_of_[value] = origin_of_[error] = fmt::format(" ({})", who);
  preset_of_[value] = &p;
  if (flux) {
    flux_of_[value] = *flux;
    flux_of_[value].band = band;
  }
}

// Presets: their bands present in the file, unless an explicit mapping replaces them.
void ColumnResolver::map_preset_bands() {
  for (const auto& p : opt_.presets) {
    for (const auto& m : p.magnitudes) add_preset_band(p, m.band, m.magnitude, m.error, nullptr);
    for (const auto& fc : p.fluxes) add_preset_band(p, fc.band, fc.flux, fc.error, &fc);
  }
}

// id, ra, dec, and the parallax pair: from the first preset that has them in the file
// (unless mapped explicitly); the other presets' become skipped columns.
void ColumnResolver::map_preset_positions() {
  for (const std::string role : {"id", "ra", "dec"}) {
    bool taken = explicit_targets_.count(role) > 0;
    for (const auto& p : opt_.presets) {
      for (const auto& want : role == "id" ? p.id : role == "ra" ? p.ra : p.dec) {
        const std::string c = column_named(want, fmt::format("column preset '{}'", p.name));
        if (c.empty() || canon_of_.count(c)) continue;  // absent, or mapped already
        if (taken) {
          skipped_.insert(c);
        } else {
          canon_of_[c] = role;
          origin_of_[c] = fmt::format(" (column preset '{}')", p.name);
          taken = true;
        }
      }
    }
  }
  // The parallax and its error, as a pair: the first preset with both in the file gives
  // them; one without the other is not used (a warning names it).
  bool taken = explicit_targets_.count("parallax") > 0 || explicit_targets_.count("parallax_err") > 0;
  for (const auto& p : opt_.presets) {
    const std::string who = fmt::format("column preset '{}'", p.name);
    std::string value, error;
    for (const auto& want : p.parallax)
      if (value.empty()) value = column_named(want, who);
    for (const auto& want : p.parallax_err)
      if (error.empty()) error = column_named(want, who);
    if (value.empty() && error.empty()) continue;
    if (canon_of_.count(value) || canon_of_.count(error)) continue;  // mapped already
    if (taken || value.empty() || error.empty()) {
      for (const auto& c : {value, error})
        if (!c.empty()) skipped_.insert(c);
      if (!taken) {
        log::warn("catalogue '{}': {} has column '{}' but not its {}; the parallax is not used", path_, who,
                  value.empty() ? error : value, value.empty() ? "value" : "error");
      }
      continue;
    }
    canon_of_[value] = "parallax";
    canon_of_[error] = "parallax_err";
    origin_of_[value] = origin_of_[error] = fmt::format(" ({})", who);
    taken = true;
  }
}

// The presets' lists of their tables' other columns.
void ColumnResolver::skip_preset_columns() {
  for (const auto& p : opt_.presets) {
    for (const auto& want : p.skip) {
      const bool prefix = want.size() > 1 && want.back() == '*';
      const std::string stem = prefix ? want.substr(0, want.size() - 1) : want;
      for (const auto& n : names_) {
        const bool hit = prefix ? n.size() >= stem.size() && iequals(n.substr(0, stem.size()), stem) : iequals(n, want);
        if (hit && !canon_of_.count(n)) skipped_.insert(n);
      }
    }
  }
}

void ColumnResolver::claim(const std::string& canonical, const std::string& column) {
  auto it = claimed_.find(canonical);
  if (it != claimed_.end()) {
    fail_input("catalogue '{}': columns '{}'{} and '{}'{} both stand for '{}'", path_, it->second, origin(it->second),
               column, origin(column), canonical);
  }
  claimed_[canonical] = column;
}

// Every column: a band, its error, id, ra, dec, a truth column, skipped or unknown.
ResolvedColumns ColumnResolver::classify(bool registry_order,
                                         const std::vector<std::pair<std::string, std::string>>& hdf5_others) {
  ResolvedColumns out;
  std::vector<int> mag_order;  // known-filter indices in file order
  std::vector<std::string> unknown;
  std::string truth_cols[5];
  for (const auto& column : names_) {
    auto mapping = canon_of_.find(column);
    const bool was_mapped = mapping != canon_of_.end();
    const std::string canon = was_mapped ? mapping->second : column;
    const std::string lc = lower(canon);
    // The zero point's inputs are read when it is asked for, though a preset skips them.
    const int zero_point_input = opt_.gaia_zero_point ? zero_point_index(lc) : -1;
    if (!was_mapped && skipped_.count(column) && zero_point_input < 0) {
      out.skipped.push_back(column);
      continue;
    }
    if (lc == "id") {
      claim("id", column);
      out.id_column = column;
    } else if (lc == "ra") {
      claim("ra", column);
      out.ra_column = column;
    } else if (lc == "dec") {
      claim("dec", column);
      out.dec_column = column;
    } else if (const int c = constraint_index(lc); c >= 0) {
      claim(lc, column);
      out.constraint_columns[c] = column;
    } else if (zero_point_input >= 0) {
      claim(lc, column);
      out.zero_point_columns[zero_point_input] = column;
    } else if (lc.rfind("true_", 0) == 0) {
      std::string param = lc.substr(5);
      for (int p = 0; p < 5; ++p) {
        if (param == kTruthParameterNames[p]) {
          claim(lc, column);
          truth_cols[p] = column;
        }
      }
      // other true_* columns are labels we do not use: skipped silently
    } else if (int f = find_filter(canon); f >= 0) {
      claim(filter_name(f), column);
      mag_of_[f] = column;
      mag_order.push_back(f);
    } else if (ends_with(lc, "_err") && find_filter(canon.substr(0, canon.size() - 4)) >= 0) {
      int g = find_filter(canon.substr(0, canon.size() - 4));
      claim(filter_name(g) + "_err", column);
      err_of_[g] = column;
    } else if (was_mapped) {
      fail_input(
          "--columns maps '{}' to '{}', which is not a known filter, a <filter>_err column, id, ra, dec, "
          "parallax, parallax_err, av_prior, av_prior_err, av_max or true_<parameter>; known filters: {}",
          column, canon, known_list());
    } else {
      unknown.push_back(column);
    }
  }
  for (const auto& [name, what] : hdf5_others) {
    if (skipped_.count(name)) continue;
    auto mapping = canon_of_.find(name);
    const std::string canon = mapping == canon_of_.end() ? name : mapping->second, lc = lower(canon);
    const bool known_name = lc == "id" || lc == "ra" || lc == "dec" || constraint_index(lc) >= 0 ||
                            lc.rfind("true_", 0) == 0 || find_filter(canon) >= 0 ||
                            (ends_with(lc, "_err") && find_filter(canon.substr(0, canon.size() - 4)) >= 0);
    if (known_name) fail_input("HDF5 catalogue '{}': /{} {}", path_, name, what);
    unknown.push_back(fmt::format("{} ({})", name, what));
  }
  check_unknown(unknown, out);
  check_pairs();
  if (registry_order) std::sort(mag_order.begin(), mag_order.end());
  for (int f : mag_order) {
    BandSource s;
    s.value_column = mag_of_[f];
    s.error_column = err_of_[f];
    if (auto it = flux_of_.find(s.value_column); it != flux_of_.end()) {
      s.flux = true;
      s.zero_point = it->second.zero_point;
      s.zero_point_error = it->second.zero_point_error;
    }
    if (auto it = preset_of_.find(s.value_column); it != preset_of_.end()) s.preset = it->second;
    out.filters.push_back(filter_name(f));
    out.offsets.push_back(known_[static_cast<std::size_t>(f)].second);
    out.sources.push_back(std::move(s));
  }
  check_positions_and_truth(out, truth_cols);
  return out;
}

// Columns that are none of the known kinds: an error, or with --ignore-unknown-columns
// a warning and a list.
void ColumnResolver::check_unknown(const std::vector<std::string>& unknown, ResolvedColumns& out) const {
  if (unknown.empty()) return;
  if (!opt_.ignore_unknown_columns) {
    std::vector<std::string> preset_names;
    for (const auto& p : opt_.presets) preset_names.push_back(p.name);
    fail_input(
        "catalogue '{}': column(s) {} are not known filters, <filter>_err error columns, id, ra, dec, "
        "parallax, parallax_err, av_prior, av_prior_err, av_max or true_<parameter>{}; known filters: {}. Map other "
        "names with --columns NAME:FILTER, or pass "
        "--ignore-unknown-columns to skip them",
        path_, fmt::join(unknown, ", "),
        preset_names.empty() ? std::string()
                             : fmt::format(", nor columns of column preset(s) {}", fmt::join(preset_names, ", ")),
        known_list());
  }
  log::warn("catalogue '{}': ignoring {} unknown column(s): {}", path_, unknown.size(), fmt::join(unknown, ", "));
  out.ignored = unknown;
}

// Every magnitude has its error and every error its magnitude; at least one band.
void ColumnResolver::check_pairs() const {
  for (const auto& [f, column] : mag_of_) {
    if (!err_of_.count(f)) {
      fail_input(
          "catalogue '{}': filter column '{}' ({}) has no error column '{}_err'; every magnitude needs its "
          "error (map another name with --columns NAME:{}_err)",
          path_, column, filter_name(f), filter_name(f), filter_name(f));
    }
  }
  for (const auto& [f, column] : err_of_) {
    if (!mag_of_.count(f)) {
      fail_input("catalogue '{}': error column '{}' has no magnitude column '{}'", path_, column, filter_name(f));
    }
  }
  if (mag_of_.empty()) {
    fail_input("catalogue '{}' has no filter columns (columns: {}); known filters: {}", path_, fmt::join(names_, ", "),
               known_list());
  }
}

// ra and dec come together, and so do parallax and parallax_err, av_prior and
// av_prior_err; the truth columns all five or none.
void ColumnResolver::check_positions_and_truth(ResolvedColumns& out, const std::string (&truth_cols)[5]) const {
  if (out.ra_column.empty() != out.dec_column.empty()) {
    fail_input("catalogue '{}' has a{} column but no {} column", path_, out.ra_column.empty() ? " dec" : "n ra",
               out.ra_column.empty() ? "ra" : "dec");
  }
  for (const auto& [value, error] : kConstraintPairs) {
    const std::string &v = out.constraint_columns[value], &e = out.constraint_columns[error];
    if (v.empty() != e.empty()) {
      fail_input("catalogue '{}' has a '{}' column ('{}') but no '{}' column; a {} needs its {}", path_,
                 kConstraintNames[v.empty() ? error : value], v.empty() ? e : v,
                 kConstraintNames[v.empty() ? value : error], kConstraintNames[value],
                 value == kParallax ? "error (mas)" : "width (mag)");
    }
  }
  int truth_present = 0;
  for (const auto& c : truth_cols) truth_present += c.empty() ? 0 : 1;
  if (truth_present > 0 && truth_present < 5) {
    fail_input("catalogue '{}' has only {} of the 5 truth columns true_teff, true_logg, true_mh, true_av, true_rv",
               path_, truth_present);
  }
  if (truth_present == 5) out.truth_columns.assign(std::begin(truth_cols), std::end(truth_cols));
}

}  // namespace

CatalogReader CatalogReader::open(const std::string& path, const KnownFilters& known_filters,
                                  const CatalogOptions& options) {
  if (!(options.error_floor >= 0) || !std::isfinite(options.error_floor)) {
    fail_input("error floor = {} must be a finite number >= 0 (mag)", options.error_floor);
  }
  check_compatible(options.presets);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->source = open_source(path, impl->format);
  const Source& src = *impl->source;
  const bool hdf5 = impl->format == CatalogFormat::Hdf5;

  // impl->options, not options: the resolved bands point at its presets.
  ColumnResolver resolver(path, known_filters, impl->options, src.columns(), src.case_insensitive());
  resolver.map_explicit_columns();
  resolver.map_explicit_fluxes();
  resolver.map_preset_bands();
  resolver.map_preset_positions();
  resolver.skip_preset_columns();
  auto columns = resolver.classify(/*registry_order=*/hdf5, src.others());
  impl->filters = std::move(columns.filters);
  impl->offsets = std::move(columns.offsets);
  impl->sources = std::move(columns.sources);
  impl->id_column = columns.id_column;
  impl->ra_column = columns.ra_column;
  impl->dec_column = columns.dec_column;
  for (int c = 0; c < kConstraintCount; ++c) impl->constraint_columns[c] = columns.constraint_columns[c];
  if (options.gaia_zero_point) {
    std::vector<std::string> missing;
    if (impl->constraint_columns[kParallax].empty()) missing.push_back("parallax (with parallax_err)");
    const auto g = std::find(impl->filters.begin(), impl->filters.end(), "Gaia_G");
    if (g == impl->filters.end()) missing.push_back("the Gaia_G band (phot_g_mean_flux or phot_g_mean_mag)");
    impl->gaia_g = g == impl->filters.end() ? -1 : static_cast<int>(g - impl->filters.begin());
    for (int c = 0; c < kGaiaZeroPointInputs; ++c) {
      impl->zero_point_columns[c] = columns.zero_point_columns[c];
      if (columns.zero_point_columns[c].empty()) missing.push_back(kGaiaZeroPointColumns[c]);
    }
    if (!missing.empty()) {
      fail_input(
          "catalogue '{}': --parallax-zero-point lindegren2021 needs the columns {}; it lacks {} (map other names "
          "with --columns, or give the zero point as a number in mas)",
          path, "parallax, Gaia_G, nu_eff_used_in_astrometry, pseudocolour, ecl_lat and astrometric_params_solved",
          fmt::join(missing, ", "));
    }
  }
  impl->truth_columns = std::move(columns.truth_columns);
  impl->ignored = std::move(columns.ignored);
  impl->skipped = std::move(columns.skipped);
  impl->truth_matrix = src.has_truth_matrix();

  std::vector<std::string> numeric;
  for (const auto& s : impl->sources) numeric.push_back(s.value_column);
  for (const auto& s : impl->sources) numeric.push_back(s.error_column);
  numeric.insert(numeric.end(), impl->truth_columns.begin(), impl->truth_columns.end());
  if (!impl->ra_column.empty()) {
    numeric.push_back(impl->ra_column);
    numeric.push_back(impl->dec_column);
  }
  for (const auto& c : impl->constraint_columns)
    if (!c.empty()) numeric.push_back(c);
  for (const auto& c : impl->zero_point_columns)
    if (!c.empty()) numeric.push_back(c);
  src.validate(numeric);
  return CatalogReader(std::move(impl));
}

const std::string& CatalogReader::path() const { return impl_->path; }
CatalogFormat CatalogReader::format() const { return impl_->format; }
std::uint64_t CatalogReader::rows() const { return impl_->source->rows(); }
const std::vector<std::string>& CatalogReader::filters() const { return impl_->filters; }
const std::vector<double>& CatalogReader::offsets() const { return impl_->offsets; }
bool CatalogReader::has_truth() const { return impl_->truth_matrix || !impl_->truth_columns.empty(); }
bool CatalogReader::has_id() const { return !impl_->id_column.empty(); }
bool CatalogReader::has_position() const { return !impl_->ra_column.empty(); }
bool CatalogReader::has_constraints() const {
  return std::any_of(std::begin(impl_->constraint_columns), std::end(impl_->constraint_columns),
                     [](const std::string& c) { return !c.empty(); });
}
bool CatalogReader::has_constraint(ConstraintColumn c) const { return !impl_->constraint_columns[c].empty(); }
const std::vector<std::string>& CatalogReader::ignored_columns() const { return impl_->ignored; }
const std::vector<std::string>& CatalogReader::skipped_columns() const { return impl_->skipped; }

void CatalogReader::read_constraints(std::uint64_t row0, std::uint64_t n, CatalogBlock& block) const {
  const Impl& m = *impl_;
  constexpr auto K = static_cast<std::size_t>(kConstraintCount);
  block.constraints.assign(n * K, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> col(n);
  for (std::size_t c = 0; c < K; ++c) {
    if (m.constraint_columns[c].empty()) continue;
    m.source->read_numeric(m.constraint_columns[c], row0, n, col.data());
    for (std::uint64_t r = 0; r < n; ++r) block.constraints[r * K + c] = col[r];
  }
  // A value with an unusable error or width drops the pair; a bad bound drops the bound.
  auto bad_scale = [](double e) { return !std::isfinite(e) || !(e > 0); };
  for (std::uint64_t r = 0; r < n; ++r) {
    double* row = block.constraints.data() + r * K;
    for (const auto& [value, error] : kConstraintPairs) {
      if (!std::isfinite(row[value]) && !std::isfinite(row[error])) continue;  // not given
      if (!std::isfinite(row[value]) || bad_scale(row[error])) {
        ++block.constraints_dropped;
        row[value] = row[error] = std::numeric_limits<double>::quiet_NaN();
      }
    }
    if (!std::isnan(row[kAvMax]) && bad_scale(row[kAvMax])) {
      ++block.constraints_dropped;
      row[kAvMax] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  if (m.options.gaia_zero_point) apply_gaia_zero_point(row0, n, block);
}

// Lindegren et al. (2021): the parallax minus its zero point, from the row's G (the
// band's catalogue magnitude, before any offset) and the archive inputs; a row whose
// zero point is NaN loses its parallax (counted).
void CatalogReader::apply_gaia_zero_point(std::uint64_t row0, std::uint64_t n, CatalogBlock& block) const {
  const Impl& m = *impl_;
  constexpr auto K = static_cast<std::size_t>(kConstraintCount);
  std::vector<double> inputs[kGaiaZeroPointInputs];
  for (int c = 0; c < kGaiaZeroPointInputs; ++c) {
    inputs[c].resize(n);
    m.source->read_numeric(m.zero_point_columns[c], row0, n, inputs[c].data());
  }
  const std::size_t nf = m.filters.size(), g = static_cast<std::size_t>(m.gaia_g);
  for (std::uint64_t r = 0; r < n; ++r) {
    double* row = block.constraints.data() + r * K;
    if (!std::isfinite(row[kParallax])) continue;
    const double mag = static_cast<double>(block.mag[r * nf + g]) - m.offsets[g];
    const double zp = gaia_parallax_zero_point(mag, inputs[0][r], inputs[1][r], inputs[2][r], inputs[3][r]);
    if (std::isfinite(zp)) {
      row[kParallax] -= zp;
    } else {
      ++block.constraints_dropped;
      row[kParallax] = row[kParallaxErr] = std::numeric_limits<double>::quiet_NaN();
    }
  }
}

CatalogBlock CatalogReader::read(std::uint64_t row0, std::uint64_t n) const {
  const Impl& m = *impl_;
  const Source& src = *m.source;
  if (row0 > src.rows() || n > src.rows() - row0) {
    fail_io("catalogue '{}': rows [{}, {}) are out of range (it has {} rows)", m.path, row0, row0 + n, src.rows());
  }
  const std::size_t nf = m.filters.size();
  CatalogBlock block;
  block.row0 = row0;
  block.rows = n;
  block.mag.assign(n * nf, std::numeric_limits<float>::quiet_NaN());
  block.err.assign(n * nf, std::numeric_limits<float>::quiet_NaN());
  block.dropped_unusable.assign(nf, 0);
  block.missing.assign(nf, 0);
  block.upper_limits.assign(nf, 0);
  block.nonpositive_flux.assign(nf, 0);
  std::vector<double> value(n), error(n);
  for (std::size_t f = 0; f < nf; ++f) {
    const BandSource& s = m.sources[f];
    src.read_numeric(s.value_column, row0, n, value.data());
    src.read_numeric(s.error_column, row0, n, error.data());
    for (std::uint64_t r = 0; r < n; ++r) {
      const double v = value[r];
      double e = error[r];
      if (m.is_missing(s, v)) {
        ++block.missing[f];
        continue;
      }
      if (s.flux && !(v > 0)) {
        ++block.nonpositive_flux[f];
        continue;
      }
      if (s.preset && s.preset->upper_limits && (!std::isfinite(e) || m.preset_missing(s, e))) {
        ++block.upper_limits[f];
        continue;
      }
      double mag = v;
      if (s.preset && e > s.preset->error_flags_above) {
        e = std::numeric_limits<double>::quiet_NaN();  // a flag, not an error: unusable below
      } else if (s.flux && std::isfinite(e) && e > 0) {
        mag = s.zero_point - 2.5 * std::log10(v);
        e = std::hypot(kPogson * e / v, s.zero_point_error);
      }
      // A non-positive or non-finite error, or a magnitude no star can have (outside
      // [kMagnitudeMin, kMagnitudeMax]), makes the band unusable: dropped and counted.
      if (!std::isfinite(e) || !(e > 0) || !(mag >= kMagnitudeMin && mag <= kMagnitudeMax)) {
        ++block.dropped_unusable[f];
        continue;
      }
      block.mag[r * nf + f] = static_cast<float>(mag + m.offsets[f]);
      block.err[r * nf + f] = static_cast<float>(std::max(e, m.options.error_floor));
    }
  }
  if (!m.id_column.empty()) {
    block.id = src.read_text(m.id_column, row0, n);
    // Ids are stored fixed-length (the longest sets every row's width): a runaway field
    // must not multiply the output, and a NUL byte would truncate the id in every reader.
    for (std::uint64_t r = 0; r < n; ++r) {
      const std::string& id = block.id[r];
      if (id.size() > kIdMaxBytes) {
        fail_input("catalogue '{}': the id of row {} (column '{}') is {} bytes long; ids are limited to {} bytes",
                   m.path, row0 + r, m.id_column, id.size(), kIdMaxBytes);
      }
      if (id.find('\0') != std::string::npos) {
        fail_input("catalogue '{}': the id of row {} (column '{}') contains a NUL byte", m.path, row0 + r, m.id_column);
      }
    }
  }
  if (!m.ra_column.empty()) {
    block.ra.resize(n);
    block.dec.resize(n);
    src.read_numeric(m.ra_column, row0, n, block.ra.data());
    src.read_numeric(m.dec_column, row0, n, block.dec.data());
  }
  if (has_constraints()) read_constraints(row0, n, block);
  if (m.truth_matrix) {
    block.truth.resize(n * 5);
    src.read_truth_matrix(row0, n, block.truth.data());
  } else if (!m.truth_columns.empty()) {
    block.truth.resize(n * 5);
    std::vector<double> col(n);
    for (int p = 0; p < 5; ++p) {
      src.read_numeric(m.truth_columns[static_cast<std::size_t>(p)], row0, n, col.data());
      for (std::uint64_t r = 0; r < n; ++r) block.truth[r * 5 + static_cast<std::size_t>(p)] = col[r];
    }
  }
  return block;
}

}  // namespace irisml
