#include "simulate/grid.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/fnv1a.hpp"
#include "core/text.hpp"
#include "core/paths.hpp"
#include "io/fits.hpp"
#include "io/hdf5.hpp"
#include "simulate/photometry.hpp"

namespace irisml::simulate {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------
// Axis lookup shared by the interpolator and the prior support.

// A point within this fraction of a cell width from a node counts as on it
// (absorbs the round trip log10(10^x) and points on an axis' ends).
constexpr double kSnap = 1e-9;

// x = (1 - w) axis[lo] + w axis[hi]; lo == hi (and w == 0) on a node.
struct Bracket {
  std::size_t lo = 0, hi = 0;
  double w = 0;
};

bool bracket(const std::vector<double>& axis, double x, Bracket& b) {
  const std::size_t n = axis.size();
  if (n == 0 || std::isnan(x)) return false;
  if (n == 1) {
    if (std::abs(x - axis[0]) > kSnap * std::max(1.0, std::abs(axis[0]))) return false;
    b = {0, 0, 0.0};
    return true;
  }
  if (x <= axis[0]) {
    if (axis[0] - x > kSnap * (axis[1] - axis[0])) return false;
    b = {0, 0, 0.0};
    return true;
  }
  if (x >= axis[n - 1]) {
    if (x - axis[n - 1] > kSnap * (axis[n - 1] - axis[n - 2])) return false;
    b = {n - 1, n - 1, 0.0};
    return true;
  }
  // axis[i] <= x < axis[i + 1]
  std::size_t i = static_cast<std::size_t>(std::upper_bound(axis.begin(), axis.end(), x) - axis.begin()) - 1;
  double w = (x - axis[i]) / (axis[i + 1] - axis[i]);
  if (w <= kSnap) {
    b = {i, i, 0.0};
  } else if (w >= 1.0 - kSnap) {
    b = {i + 1, i + 1, 0.0};
  } else {
    b = {i, i + 1, w};
  }
  return true;
}

void check_axis(const std::vector<double>& axis, const char* name, const char* unit, const std::string& source) {
  if (axis.empty()) fail_input("grid '{}': the {} axis is empty", source, name);
  for (std::size_t i = 0; i < axis.size(); ++i) {
    if (!std::isfinite(axis[i])) fail_input("grid '{}': {}[{}] = {} is not finite", source, name, i, axis[i]);
    if (i > 0 && !(axis[i] > axis[i - 1])) {
      fail_input("grid '{}': the {} axis must be strictly ascending, but {}[{}] = {} {} follows {} {}", source, name,
                 name, i, axis[i], unit, axis[i - 1], unit);
    }
  }
}

std::string fits_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "ckp05" → +0.5, "ckm25" → −2.5; false if the name is not of that form.
bool parse_ck_dir(const std::string& name, double& mh) {
  if (name.size() != 5 || name.compare(0, 2, "ck") != 0 || (name[2] != 'm' && name[2] != 'p') ||
      !all_digits(name.substr(3))) {
    return false;
  }
  mh = (name[2] == 'm' ? -1.0 : 1.0) * std::stoi(name.substr(3)) / 10.0;
  return true;
}

// log g of a "gNN" column name (NN / 10); false if the name is not of that form.
bool parse_logg_column(const std::string& name, double& logg) {
  if (name.size() != 3 || (name[0] != 'g' && name[0] != 'G') || !all_digits(name.substr(1))) return false;
  logg = std::stoi(name.substr(1)) / 10.0;
  return true;
}

std::vector<double> sorted_unique(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::size_t index_of(const std::vector<double>& axis, double x) {
  return static_cast<std::size_t>(std::lower_bound(axis.begin(), axis.end(), x) - axis.begin());
}

// One model of a user table, before it is placed on the lattice.
struct TableModel {
  double teff = 0, logg = 0, mh = 0;
  std::string where;  // for messages: "row 12 of 'x.h5'" or "'spec.txt' (manifest line 7)"
};

// Places n models (flux rows of wavelength.size() values each) on the lattice
// spanned by their unique parameter values.
SpectralGrid assemble_table(const std::vector<TableModel>& models, std::vector<double> wavelength,
                            const std::vector<float>& flux, const std::string& source) {
  if (models.empty()) fail_input("grid table '{}' lists no models", source);
  const std::size_t nw = wavelength.size();
  if (nw < 2) fail_input("grid table '{}': the wavelength grid has {} point(s); at least 2 are needed", source, nw);
  for (std::size_t i = 0; i < nw; ++i) {
    if (!std::isfinite(wavelength[i]) || wavelength[i] <= 0) {
      fail_input("grid table '{}': wavelength[{}] = {} Å must be finite and positive", source, i, wavelength[i]);
    }
    if (i > 0 && !(wavelength[i] > wavelength[i - 1])) {
      fail_input("grid table '{}': wavelengths must be strictly ascending, but wavelength[{}] = {} Å follows {} Å",
                 source, i, wavelength[i], wavelength[i - 1]);
    }
  }
  std::vector<double> teffs, loggs, mhs;
  for (const auto& m : models) {
    if (!std::isfinite(m.teff) || m.teff <= 0)
      fail_input("{}: Teff = {} K must be finite and positive", m.where, m.teff);
    if (!std::isfinite(m.logg)) fail_input("{}: log g = {} is not finite", m.where, m.logg);
    if (!std::isfinite(m.mh)) fail_input("{}: [M/H] = {} is not finite", m.where, m.mh);
    teffs.push_back(m.teff);
    loggs.push_back(m.logg);
    mhs.push_back(m.mh);
  }
  SpectralGrid grid;
  grid.teff = sorted_unique(teffs);
  grid.logg = sorted_unique(loggs);
  grid.mh = sorted_unique(mhs);
  grid.wavelength = std::move(wavelength);
  grid.flux.assign(grid.n_nodes() * nw, 0.0f);
  grid.valid.assign(grid.n_nodes(), 0);
  std::vector<std::size_t> owner(grid.n_nodes(), models.size());
  for (std::size_t k = 0; k < models.size(); ++k) {
    const TableModel& m = models[k];
    std::size_t node =
        grid.node_index(index_of(grid.mh, m.mh), index_of(grid.teff, m.teff), index_of(grid.logg, m.logg));
    if (owner[node] != models.size()) {
      fail_input("{} and {} both give the model Teff = {} K, log g = {}, [M/H] = {}; each grid point may appear once",
                 models[owner[node]].where, m.where, m.teff, m.logg, m.mh);
    }
    owner[node] = k;
    const float* row = flux.data() + k * nw;
    bool any = false;
    for (std::size_t i = 0; i < nw; ++i) {
      if (!std::isfinite(row[i])) {
        fail_input("{}: flux at {} Å (wavelength index {}) is {}; fluxes must be finite", m.where, grid.wavelength[i],
                   i, row[i]);
      }
      any = any || row[i] != 0.0f;
    }
    std::copy(row, row + nw, grid.flux.begin() + static_cast<std::ptrdiff_t>(node * nw));
    grid.valid[node] = any ? 1 : 0;  // an all-zero spectrum marks a missing model, as in CK04
  }
  grid.source = source;
  grid.check();
  grid.checksum = grid.compute_checksum();
  return grid;
}

SpectralGrid import_table_hdf5(const std::string& path) {
  auto f = h5::File::open(path);
  for (const char* name : {"teff", "logg", "mh", "wavelength", "flux"}) {
    if (!f.exists(name)) {
      fail_input(
          "grid table '{}': dataset '{}' is missing; the table format needs teff, logg, mh [n], wavelength "
          "[n_wave] and flux [n, n_wave] (docs/grid_format.md)",
          path, name);
    }
  }
  auto wavelength = f.read<double>("wavelength");
  auto teff = f.read<double>("teff");
  auto logg = f.read<double>("logg");
  auto mh = f.read<double>("mh");
  const std::size_t n = teff.size();
  if (logg.size() != n || mh.size() != n) {
    fail_input("grid table '{}': teff, logg and mh must have one value per model, but have {}, {} and {}", path, n,
               logg.size(), mh.size());
  }
  auto dims = f.dims("flux");
  if (dims.size() != 2 || dims[0] != n || dims[1] != wavelength.size()) {
    std::string shape;
    for (auto d : dims) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    fail_input("grid table '{}': flux has shape [{}]; expected [{}, {}] (models × wavelengths)", path, shape, n,
               wavelength.size());
  }
  auto flux = f.read<float>("flux");
  std::vector<TableModel> models(n);
  for (std::size_t k = 0; k < n; ++k) models[k] = {teff[k], logg[k], mh[k], fmt::format("row {} of '{}'", k, path)};
  SpectralGrid grid = assemble_table(models, std::move(wavelength), flux, path);
  grid.provenance = f.has_attr("/", "provenance") ? f.attr_string("/", "provenance") : "";
  if (!grid.provenance.empty()) grid.provenance += "; ";
  grid.provenance += fmt::format("imported by irisml from the HDF5 grid table '{}'", path);
  return grid;
}

// Splits a text line into fields at blanks, tabs and commas.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ' ' || c == '\t' || c == ',' || c == '\r') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool parse_number(const std::string& s, double& v) {
  const char* begin = s.c_str();
  char* end = nullptr;
  v = std::strtod(begin, &end);
  return end != begin && *end == '\0';
}

// Two leading numeric columns (wavelength Å, F_λ); further columns ignored.
void read_spectrum(const std::string& path, const std::string& where, std::vector<double>& wave,
                   std::vector<double>& flux) {
  std::ifstream in(path);
  if (!in) fail_input("{}: spectrum file '{}' is missing or unreadable", where, path);
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    auto fields = split_fields(line);
    if (fields.empty()) continue;
    double w = 0, f = 0;
    if (fields.size() < 2 || !parse_number(fields[0], w) || !parse_number(fields[1], f)) {
      fail_input("spectrum '{}' line {}: expected two numbers (wavelength in Å, F_λ), got '{}'", path, lineno, line);
    }
    wave.push_back(w);
    flux.push_back(f);
  }
}

SpectralGrid import_table_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail_input("grid table '{}' is missing or unreadable", path);
  const fs::path base = fs::path(path).parent_path();
  std::vector<TableModel> models;
  std::vector<double> wavelength;
  std::vector<float> flux;
  std::string first_spectrum;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string content = line;
    auto hash = content.find('#');
    if (hash != std::string::npos) content.erase(hash);
    auto fields = split_fields(content);
    if (fields.empty()) continue;
    TableModel m;
    if (fields.size() != 4 || !parse_number(fields[0], m.teff) || !parse_number(fields[1], m.logg) ||
        !parse_number(fields[2], m.mh)) {
      fail_input("grid manifest '{}' line {}: expected 'teff logg mh spectrum-file', got '{}'", path, lineno, line);
    }
    std::string spectrum = fields[3];
    if (fs::path(spectrum).is_relative()) spectrum = (base / spectrum).string();
    m.where = fmt::format("spectrum '{}' (manifest '{}' line {})", spectrum, path, lineno);
    std::vector<double> w, f;
    read_spectrum(spectrum, m.where, w, f);
    if (models.empty()) {
      wavelength = w;
      first_spectrum = spectrum;
    } else {
      if (w.size() != wavelength.size()) {
        fail_input("{} has {} wavelengths but '{}' has {}; every spectrum must share one wavelength grid", m.where,
                   w.size(), first_spectrum, wavelength.size());
      }
      for (std::size_t i = 0; i < w.size(); ++i) {
        if (std::abs(w[i] - wavelength[i]) > 1e-9 * std::abs(wavelength[i])) {
          fail_input(
              "{}: wavelength {} Å at row {} differs from {} Å in '{}'; every spectrum must share one "
              "wavelength grid",
              m.where, w[i], i, wavelength[i], first_spectrum);
        }
      }
    }
    for (double v : f) flux.push_back(static_cast<float>(v));
    models.push_back(std::move(m));
  }
  SpectralGrid grid = assemble_table(models, std::move(wavelength), flux, path);
  grid.provenance = fmt::format("imported by irisml from the grid manifest '{}'", path);
  return grid;
}

}  // namespace

// ---------------------------------------------------------------------------
// SpectralGrid

std::size_t SpectralGrid::n_valid() const {
  return static_cast<std::size_t>(std::count_if(valid.begin(), valid.end(), [](std::uint8_t v) { return v != 0; }));
}

void SpectralGrid::check() const {
  check_axis(teff, "teff", "K", source);
  check_axis(logg, "logg", "dex", source);
  check_axis(mh, "mh", "dex", source);
  check_axis(wavelength, "wavelength", "Å", source);
  if (teff.front() <= 0)
    fail_input("grid '{}': Teff must be positive, but the axis starts at {} K", source, teff.front());
  if (wavelength.front() <= 0) {
    fail_input("grid '{}': wavelengths must be positive, but the axis starts at {} Å", source, wavelength.front());
  }
  if (valid.size() != n_nodes()) {
    fail_input("grid '{}': the validity mask has {} entries for {} × {} × {} = {} grid points", source, valid.size(),
               n_mh(), n_teff(), n_logg(), n_nodes());
  }
  if (flux.size() != n_nodes() * n_wave()) {
    fail_input("grid '{}': flux has {} values; expected {} grid points × {} wavelengths = {}", source, flux.size(),
               n_nodes(), n_wave(), n_nodes() * n_wave());
  }
}

std::pair<std::size_t, std::size_t> SpectralGrid::covering_range(double lambda_lo, double lambda_hi) const {
  if (!(lambda_lo <= lambda_hi)) {
    fail_input("wavelength interval [{}, {}] Å is empty or not a pair of numbers", lambda_lo, lambda_hi);
  }
  // i0: last point <= lambda_lo; i1 - 1: first point >= lambda_hi.
  auto lo = std::upper_bound(wavelength.begin(), wavelength.end(), lambda_lo);
  std::size_t i0 = lo == wavelength.begin() ? 0 : static_cast<std::size_t>(lo - wavelength.begin()) - 1;
  auto hi = std::lower_bound(wavelength.begin(), wavelength.end(), lambda_hi);
  std::size_t i1 = hi == wavelength.end() ? wavelength.size() : static_cast<std::size_t>(hi - wavelength.begin()) + 1;
  return {i0, std::max(i1, i0 + 1)};
}

std::string SpectralGrid::compute_checksum() const {
  Fnv1a h;
  for (std::size_t n : {n_mh(), n_teff(), n_logg(), n_wave(), flux.size(), valid.size()}) h.u64(n);
  h.doubles(mh);
  h.doubles(teff);
  h.doubles(logg);
  h.doubles(wavelength);
  h.floats(flux);
  h.bytes(valid.data(), valid.size());
  return h.to_hex_string();
}

std::vector<std::pair<double, double>> SpectralGrid::log_teff_intervals(double g) const {
  std::vector<std::pair<double, double>> out;
  Bracket bg;
  if (teff.size() < 2 || !bracket(logg, g, bg)) return out;
  // A Teff node is usable if the models at both log g corners exist for every [M/H].
  std::vector<bool> node_ok(teff.size(), true);
  for (std::size_t t = 0; t < teff.size(); ++t) {
    for (std::size_t m = 0; m < mh.size() && node_ok[t]; ++m) {
      node_ok[t] = is_valid(m, t, bg.lo) && is_valid(m, t, bg.hi);
    }
  }
  for (std::size_t t = 0; t + 1 < teff.size(); ++t) {
    if (!node_ok[t] || !node_ok[t + 1]) continue;
    double lo = std::log10(teff[t]), hi = std::log10(teff[t + 1]);
    if (!out.empty() && out.back().second == lo) {
      out.back().second = hi;
    } else {
      out.emplace_back(lo, hi);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// CK04 import

namespace {

// One model file of the CK04 tree: ck<m|p>NN/ck<m|p>NN_<Teff>.fits.
struct Ck04Entry {
  std::string path;
  double mh_dir = 0;
  double teff_name = 0;
};

// The model files under `dir`, sorted by path.
std::vector<Ck04Entry> list_ck04_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail_input(
        "CK04 grid directory '{}' does not exist or is not a directory; give the ck04models folder that holds "
        "ckm25/ … ckp05/",
        dir);
  }
  std::vector<Ck04Entry> entries;
  try {
    for (const auto& sub : fs::directory_iterator(dir)) {
      double mh_dir = 0;
      const std::string dname = sub.path().filename().string();
      if (!sub.is_directory() || !parse_ck_dir(dname, mh_dir)) continue;
      for (const auto& file : fs::directory_iterator(sub.path())) {
        const std::string fname = file.path().filename().string();
        const std::string prefix = dname + "_", suffix = ".fits";
        if (fname.size() <= prefix.size() + suffix.size() || fname.compare(0, prefix.size(), prefix) != 0 ||
            fname.compare(fname.size() - suffix.size(), suffix.size(), suffix) != 0) {
          continue;
        }
        std::string digits = fname.substr(prefix.size(), fname.size() - prefix.size() - suffix.size());
        if (!all_digits(digits)) continue;
        entries.push_back({file.path().string(), mh_dir, std::stod(digits)});
      }
    }
  } catch (const fs::filesystem_error& e) {
    fail_io("cannot list the CK04 grid directory '{}': {}", dir, e.what());
  }
  if (entries.empty()) {
    fail_input("no CK04 model files (ck<m|p>NN/ck<m|p>NN_<Teff>.fits) were found under '{}'", dir);
  }
  std::sort(entries.begin(), entries.end(), [](const Ck04Entry& a, const Ck04Entry& b) { return a.path < b.path; });
  return entries;
}

// One model file's spectra: a flux column per log g, and which of them hold a model.
struct Ck04Model {
  double teff = 0, mh = 0;
  std::vector<float> flux;  // [logg column][wavelength]
  std::vector<bool> present;
};

// What the first file fixes and every later one must repeat: the flux columns (their
// log g) and the wavelength grid.
struct Ck04Layout {
  std::vector<std::string> flux_columns;  // gNN names
  std::vector<double> column_logg;
  std::vector<float> wave;
  std::string first;  // the file that set them (empty before the first)
};

// The table's flux column names (gNN), after checking that it holds WAVELENGTH and
// nothing else.
std::vector<std::string> ck04_flux_columns(const fits::File& f, const std::string& path) {
  const auto names = f.column_names();
  bool has_wave = false;
  std::vector<std::string> gcols;
  for (const auto& name : names) {
    double g = 0;
    if (iequals(name, "WAVELENGTH")) {
      has_wave = true;
    } else if (parse_logg_column(name, g)) {
      gcols.push_back(name);
    } else {
      fail_input(
          "CK04 file '{}': unexpected column '{}' in HDU 1; a ck04 table has WAVELENGTH and flux columns "
          "g00 … g50 (log g × 10); columns present: {}",
          path, name, fits_list(names));
    }
  }
  if (!has_wave) {
    fail_input("CK04 file '{}': column 'WAVELENGTH' is missing from HDU 1; columns present: {}", path,
               fits_list(names));
  }
  return gcols;
}

// Sets the layout from the first file (its flux columns and wavelengths), or checks a
// later file's against it.
void match_ck04_layout(fits::File& f, const std::string& path, const std::vector<std::string>& gcols,
                       Ck04Layout& layout) {
  if (layout.first.empty()) {
    if (gcols.empty()) fail_input("CK04 file '{}' has no flux columns gNN in HDU 1", path);
    layout.flux_columns = gcols;
    for (const auto& c : gcols) {
      double g = 0;
      parse_logg_column(c, g);
      layout.column_logg.push_back(g);
    }
    auto w = f.read_float_column("WAVELENGTH");
    if (w.size() < 2) fail_input("CK04 file '{}' has {} wavelength row(s)", path, w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (!std::isfinite(w[i]) || w[i] <= 0 || (i > 0 && !(w[i] > w[i - 1]))) {
        fail_input("CK04 file '{}': WAVELENGTH row {} = {} Å; wavelengths must be positive and strictly ascending",
                   path, i, w[i]);
      }
    }
    layout.wave = std::move(w);
    layout.first = path;
    return;
  }
  const auto names = f.column_names();
  for (const auto& c : layout.flux_columns) {
    if (std::none_of(gcols.begin(), gcols.end(), [&](const std::string& x) { return iequals(x, c); })) {
      fail_input("CK04 file '{}': column '{}' (present in '{}') is missing from HDU 1; columns present: {}", path, c,
                 layout.first, fits_list(names));
    }
  }
  for (const auto& c : gcols) {
    if (std::none_of(layout.flux_columns.begin(), layout.flux_columns.end(),
                     [&](const std::string& x) { return iequals(x, c); })) {
      fail_input("CK04 file '{}': unexpected column '{}' in HDU 1 (not in '{}', whose flux columns are {})", path, c,
                 layout.first, fits_list(layout.flux_columns));
    }
  }
  auto w = f.read_float_column("WAVELENGTH");
  if (w.size() != layout.wave.size()) {
    fail_input("CK04 file '{}' has {} wavelength rows but '{}' has {}; every model must share one wavelength grid",
               path, w.size(), layout.first, layout.wave.size());
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (w[i] != layout.wave[i]) {
      fail_input(
          "CK04 file '{}': WAVELENGTH row {} is {} Å but {} Å in '{}'; every model must share one "
          "wavelength grid",
          path, i, w[i], layout.wave[i], layout.first);
    }
  }
}

// Reads one model file, checking its header against its name and its table against the layout.
Ck04Model read_ck04_model(const Ck04Entry& e, Ck04Layout& layout) {
  auto f = fits::File::open(e.path);
  for (const char* key : {"TEFF", "LOG_Z"}) {
    if (!f.has_key(key)) {
      fail_input("CK04 file '{}': the primary header has no {} key (a ck04 model file records TEFF and LOG_Z)", e.path,
                 key);
    }
  }
  Ck04Model model;
  model.teff = f.key_double("TEFF");
  model.mh = f.key_double("LOG_Z");
  if (!std::isfinite(model.teff) || model.teff <= 0 || model.teff != e.teff_name) {
    fail_input("CK04 file '{}': header TEFF = {} K disagrees with the {} K in its name", e.path, model.teff,
               e.teff_name);
  }
  if (!std::isfinite(model.mh) || std::abs(model.mh - e.mh_dir) > 1e-6) {
    fail_input("CK04 file '{}': header LOG_Z = {} disagrees with [M/H] = {} of its directory", e.path, model.mh,
               e.mh_dir);
  }
  if (f.hdu_count() < 2) fail_input("CK04 file '{}' has no table extension (HDU 1)", e.path);
  f.move_to_hdu(1);
  if (!f.is_table()) fail_input("CK04 file '{}': HDU 1 is not a table", e.path);
  match_ck04_layout(f, e.path, ck04_flux_columns(f, e.path), layout);
  const std::size_t nw = layout.wave.size();
  model.flux.resize(layout.flux_columns.size() * nw);
  model.present.resize(layout.flux_columns.size());
  for (std::size_t c = 0; c < layout.flux_columns.size(); ++c) {
    auto col = f.read_float_column(layout.flux_columns[c]);
    bool any = false;
    for (std::size_t i = 0; i < nw; ++i) {
      if (!std::isfinite(col[i]) || col[i] < 0) {
        fail_input("CK04 file '{}': column {} row {} ({} Å) holds flux {}; fluxes must be finite and non-negative",
                   e.path, layout.flux_columns[c], i, layout.wave[i], col[i]);
      }
      any = any || col[i] != 0.0f;
    }
    model.present[c] = any;
    std::copy(col.begin(), col.end(), model.flux.begin() + static_cast<std::ptrdiff_t>(c * nw));
  }
  return model;
}

// The grid of the loaded models: axes from their Teff, [M/H] and the layout's log g; a
// node valid where its model's column holds a spectrum.
SpectralGrid assemble_ck04(const std::vector<Ck04Entry>& entries, const std::vector<Ck04Model>& loaded,
                           const Ck04Layout& layout) {
  SpectralGrid grid;
  std::vector<double> teffs, mhs;
  for (const auto& m : loaded) {
    teffs.push_back(m.teff);
    mhs.push_back(m.mh);
  }
  grid.teff = sorted_unique(teffs);
  grid.mh = sorted_unique(mhs);
  grid.logg = sorted_unique(layout.column_logg);
  if (grid.logg.size() != layout.column_logg.size()) {
    fail_input("CK04 file '{}': two flux columns name the same log g ({})", layout.first,
               fits_list(layout.flux_columns));
  }
  grid.wavelength.assign(layout.wave.begin(), layout.wave.end());
  const std::size_t nw = grid.n_wave();
  grid.flux.assign(grid.n_nodes() * nw, 0.0f);
  grid.valid.assign(grid.n_nodes(), 0);
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> seen;
  for (std::size_t k = 0; k < loaded.size(); ++k) {
    const Ck04Model& m = loaded[k];
    std::size_t mi = index_of(grid.mh, m.mh), ti = index_of(grid.teff, m.teff);
    auto [it, fresh] = seen.emplace(std::make_pair(mi, ti), k);
    if (!fresh) {
      fail_input("CK04 files '{}' and '{}' both hold Teff = {} K, [M/H] = {}", entries[it->second].path,
                 entries[k].path, m.teff, m.mh);
    }
    for (std::size_t c = 0; c < layout.column_logg.size(); ++c) {
      if (!m.present[c]) continue;
      std::size_t node = grid.node_index(mi, ti, index_of(grid.logg, layout.column_logg[c]));
      grid.valid[node] = 1;
      std::copy(m.flux.begin() + static_cast<std::ptrdiff_t>(c * nw),
                m.flux.begin() + static_cast<std::ptrdiff_t>((c + 1) * nw),
                grid.flux.begin() + static_cast<std::ptrdiff_t>(node * nw));
    }
  }
  return grid;
}

}  // namespace

SpectralGrid import_ck04(const std::string& dir) {
  const std::vector<Ck04Entry> entries = list_ck04_files(dir);
  Ck04Layout layout;
  std::vector<Ck04Model> loaded;
  loaded.reserve(entries.size());
  for (const Ck04Entry& e : entries) loaded.push_back(read_ck04_model(e, layout));
  SpectralGrid grid = assemble_ck04(entries, loaded, layout);
  grid.source = dir;
  grid.provenance =
      "Castelli & Kurucz (2004) ATLAS9 model atmospheres, STScI CDBS grid/ck04models (Castelli & Kurucz 2003, "
      "IAU Symp. 210, A20); imported by irisml (grid import --format ck04)";
  grid.check();
  grid.checksum = grid.compute_checksum();
  return grid;
}

SpectralGrid import_table(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail_input("grid table '{}' does not exist or is not a file", path);
  return h5::is_hdf5(path) ? import_table_hdf5(path) : import_table_text(path);
}

// ---------------------------------------------------------------------------
// The project's grid file

void save_grid(const SpectralGrid& grid, const std::string& path) {
  grid.check();
  const std::string checksum = grid.compute_checksum();
  const std::string partial = partial_path(path);
  try {
    auto f = h5::File::create(partial);
    const std::uint64_t nm = grid.n_mh(), nt = grid.n_teff(), ng = grid.n_logg(), nw = grid.n_wave();
    f.write<double>("teff", grid.teff, {nt});
    f.write<double>("logg", grid.logg, {ng});
    f.write<double>("mh", grid.mh, {nm});
    f.write<double>("wavelength", grid.wavelength, {nw});
    f.write<float>("flux", grid.flux, {nm, nt, ng, nw});
    f.write<std::uint8_t>("valid", grid.valid, {nm, nt, ng});
    f.set_attr("teff", "unit", std::string("K"));
    f.set_attr("logg", "unit", std::string("dex (cgs)"));
    f.set_attr("mh", "unit", std::string("dex"));
    f.set_attr("wavelength", "unit", std::string("Angstrom"));
    f.set_attr("flux", "unit", std::string("erg s-1 cm-2 Angstrom-1 (surface flux F_lambda)"));
    f.set_attr("flux", "axes", std::string("mh,teff,logg,wavelength"));
    f.set_attr("valid", "axes", std::string("mh,teff,logg"));
    f.set_attr("/", "format", std::string(kGridFormatName));
    f.set_attr("/", "format_version", kGridFormatVersion);
    f.set_attr("/", "source", grid.source);
    f.set_attr("/", "provenance", grid.provenance);
    f.set_attr("/", "checksum", checksum);
    f.set_attr("/", "n_valid", static_cast<std::int64_t>(grid.n_valid()));
    f.close();
  } catch (...) {
    std::remove(partial.c_str());
    throw;
  }
  commit_partial(path);
}

SpectralGrid load_grid(const std::string& path) {
  auto f = h5::File::open(path);
  const std::string format = f.has_attr("/", "format") ? f.attr_string("/", "format") : std::string("(none)");
  if (format != kGridFormatName) {  // another kind of HDF5 file given as a grid: bad input
    fail_input(
        "'{}' is not an irisml spectral grid (attribute format = '{}', expected '{}'); create one with `irisml "
        "grid import`",
        path, format, kGridFormatName);
  }
  const std::int64_t version = f.attr_int("/", "format_version");
  if (version < 1 || version > kGridFormatVersion) {
    fail_input("'{}' has grid format version {}; this build reads version 1 to {}", path, version, kGridFormatVersion);
  }
  for (const char* name : {"teff", "logg", "mh", "wavelength", "flux", "valid"}) {
    if (!f.exists(name)) fail_io("grid file '{}' lacks the dataset '{}' (damaged or incomplete?)", path, name);
  }
  SpectralGrid grid;
  grid.teff = f.read<double>("teff");
  grid.logg = f.read<double>("logg");
  grid.mh = f.read<double>("mh");
  grid.wavelength = f.read<double>("wavelength");
  const std::vector<std::uint64_t> want_flux = {grid.n_mh(), grid.n_teff(), grid.n_logg(), grid.n_wave()};
  const std::vector<std::uint64_t> want_valid = {grid.n_mh(), grid.n_teff(), grid.n_logg()};
  if (f.dims("flux") != want_flux || f.dims("valid") != want_valid) {
    fail_io(
        "grid file '{}': flux or valid has a shape that does not match the axes ({} [M/H] × {} Teff × {} log g × {} "
        "wavelengths)",
        path, grid.n_mh(), grid.n_teff(), grid.n_logg(), grid.n_wave());
  }
  grid.flux = f.read<float>("flux");
  grid.valid = f.read<std::uint8_t>("valid");
  grid.source = f.attr_string("/", "source");
  grid.provenance = f.attr_string("/", "provenance");
  const std::string recorded = f.attr_string("/", "checksum");
  try {
    grid.check();
  } catch (const InputError& e) {
    fail_io("grid file '{}' is inconsistent: {}", path, e.what());
  }
  grid.checksum = grid.compute_checksum();
  if (grid.checksum != recorded) {
    fail_io(
        "grid file '{}': checksum mismatch: the file records {} but its content hashes to {}; the file is "
        "corrupted or was modified after it was written (re-import it)",
        path, recorded, grid.checksum);
  }
  return grid;
}

// ---------------------------------------------------------------------------
// Interpolation

namespace {

// An AVX2 clone is picked at load time where the CPU has it (about 1.6× faster
// on the 1221-point CK04 rows); without FMA contraction (ISO C++ mode) both
// clones give identical results.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define IRISML_GRID_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define IRISML_GRID_MULTIVERSION
#endif

// out[i] = sum_k w[k] rows[k][i]: 8 contiguous float rows into one double row.
// Inlined into each clone below.
inline __attribute__((always_inline)) void blend8_body(const float* const* rows, const double* w, std::size_t n,
                                                       double* __restrict out) {
  const float* __restrict r0 = rows[0];
  const float* __restrict r1 = rows[1];
  const float* __restrict r2 = rows[2];
  const float* __restrict r3 = rows[3];
  const float* __restrict r4 = rows[4];
  const float* __restrict r5 = rows[5];
  const float* __restrict r6 = rows[6];
  const float* __restrict r7 = rows[7];
  const double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7];
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = w0 * double(r0[i]) + w1 * double(r1[i]) + w2 * double(r2[i]) + w3 * double(r3[i]) + w4 * double(r4[i]) +
             w5 * double(r5[i]) + w6 * double(r6[i]) + w7 * double(r7[i]);
  }
}

// Blend::LinearFlux: rows of F.
IRISML_GRID_MULTIVERSION
void blend8(const float* const* rows, const double* w, std::size_t n, double* __restrict out) {
  blend8_body(rows, w, n, out);
}

// A blended value at or below this is what corners all at kFluxFloor give
// (within round-off): the result is 0 there.
constexpr double kZeroBelow = kFluxFloor * 1.001;

// Blend::LogFlux: rows of ln F, out[i] = exp(sum_k w[k] rows[k][i]) with the
// vectorisable exp (the argument lies in [ln kFluxFloor, ln FLT_MAX] ⊂ ±708,
// so no clamp is needed), 0 where all corners are 0. Three loops: with the
// select inside, GCC does not vectorise the exp loop.
IRISML_GRID_MULTIVERSION
void blend8_exp(const float* const* rows, const double* w, std::size_t n, double* __restrict out) {
  blend8_body(rows, w, n, out);
  for (std::size_t i = 0; i < n; ++i) out[i] = detail::exp_reduced(out[i]);
  for (std::size_t i = 0; i < n; ++i) out[i] = out[i] > kZeroBelow ? out[i] : 0.0;
}

}  // namespace

GridInterpolator::GridInterpolator(const SpectralGrid& grid, Blend blend)
    : GridInterpolator(grid, 0, grid.n_wave(), blend) {}

GridInterpolator::GridInterpolator(const SpectralGrid& grid, std::size_t i0, std::size_t i1, Blend blend)
    : grid_(&grid), i0_(i0), i1_(i1), blend_(blend) {
  grid.check();
  if (!(i0 < i1 && i1 <= grid.n_wave())) {
    fail_input("wavelength index range [{}, {}) is not a non-empty part of the grid's {} wavelengths", i0, i1,
               grid.n_wave());
  }
  log_teff_.reserve(grid.n_teff());
  for (double t : grid.teff) log_teff_.push_back(std::log10(t));
  if (blend_ == Blend::LogFlux) {
    const std::size_t n = i1 - i0, nw = grid.n_wave();
    log_row_.assign(grid.n_nodes(), 0);
    log_flux_.resize(grid.n_valid() * n);
    std::uint32_t row = 0;
    for (std::size_t node = 0; node < grid.n_nodes(); ++node) {
      if (!grid.valid[node]) continue;
      log_row_[node] = row;
      const float* f = grid.flux.data() + node * nw + i0;
      float* l = log_flux_.data() + std::size_t(row) * n;
      for (std::size_t i = 0; i < n; ++i) l[i] = static_cast<float>(std::log(std::max(double(f[i]), kFluxFloor)));
      ++row;
    }
  }
}

bool GridInterpolator::locate(double teff, double logg, double mh, Cell& cell) const {
  if (!(teff > 0)) return false;
  Bracket bt, bg, bm;
  if (!bracket(log_teff_, std::log10(teff), bt) || !bracket(grid_->logg, logg, bg) || !bracket(grid_->mh, mh, bm)) {
    return false;
  }
  const std::size_t nt = grid_->n_teff(), ng = grid_->n_logg(), nw = grid_->n_wave();
  const std::uint8_t* valid = grid_->valid.data();
  const std::size_t ms[2] = {bm.lo, bm.hi}, ts[2] = {bt.lo, bt.hi}, gs[2] = {bg.lo, bg.hi};
  const double wm[2] = {1.0 - bm.w, bm.w}, wt[2] = {1.0 - bt.w, bt.w}, wg[2] = {1.0 - bg.w, bg.w};
  int k = 0;
  for (int a = 0; a < 2; ++a) {
    for (int b = 0; b < 2; ++b) {
      for (int c = 0; c < 2; ++c) {
        const std::size_t node = (ms[a] * nt + ts[b]) * ng + gs[c];
        if (!valid[node]) return false;
        cell.node[k] = node;
        cell.offset[k] = node * nw + i0_;
        cell.weight[k] = wm[a] * wt[b] * wg[c];
        ++k;
      }
    }
  }
  return true;
}

void GridInterpolator::interpolate(const Cell& cell, double* out) const {
  const std::size_t n = i1_ - i0_;
  const float* rows[8];
  if (blend_ == Blend::LinearFlux) {
    const float* flux = grid_->flux.data();
    for (int k = 0; k < 8; ++k) rows[k] = flux + cell.offset[k];
    blend8(rows, cell.weight.data(), n, out);
    return;
  }
  // On a node (the only way a weight is exactly 1) the model itself, not
  // exp(float(ln F)), which is off by up to |ln F|·6e-8 relative.
  for (int k = 0; k < 8; ++k) {
    if (cell.weight[k] == 1.0) {
      const float* f = grid_->flux.data() + cell.offset[k];
      for (std::size_t i = 0; i < n; ++i) out[i] = double(f[i]);
      return;
    }
  }
  for (int k = 0; k < 8; ++k) rows[k] = log_flux_.data() + std::size_t(log_row_[cell.node[k]]) * n;
  blend8_exp(rows, cell.weight.data(), n, out);
}

void GridInterpolator::interpolate_log(const Cell& cell, double* out) const {
  const std::size_t n = i1_ - i0_;
  const bool node = std::find(cell.weight.begin(), cell.weight.end(), 1.0) != cell.weight.end();
  if (blend_ == Blend::LinearFlux || node) {
    interpolate(cell, out);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::log(std::max(out[i], kFluxFloor));
    return;
  }
  const float* rows[8];
  for (int k = 0; k < 8; ++k) rows[k] = log_flux_.data() + std::size_t(log_row_[cell.node[k]]) * n;
  blend8(rows, cell.weight.data(), n, out);
}

bool GridInterpolator::spectrum(double teff, double logg, double mh, double* out) const {
  Cell cell;
  if (!locate(teff, logg, mh, cell)) return false;
  interpolate(cell, out);
  return true;
}

}  // namespace irisml::simulate
