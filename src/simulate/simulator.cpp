#include "simulate/simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/shard.hpp"
#include "core/text.hpp"
#include "io/hdf5.hpp"
#include "distributed/collectives.hpp"
#include "simulate/grid.hpp"
#include "simulate/synthesizer.hpp"

#ifndef IRISML_VERSION
#define IRISML_VERSION "0.1.0"
#endif

namespace irisml::simulate {
namespace {

constexpr const char* kFormat = "irisml-training-set";
constexpr std::int64_t kFormatVersion = 1;

// A training set's `blend` attribute: absent (empty) for the default ln F blend, so
// default files stay as they were.
std::string blend_attribute(Blend blend) { return blend == Blend::LogFlux ? "" : blend_name(blend); }

// Everything in a training set's root attributes. Written in one fixed order
// so that equal content gives byte-identical files.
struct Header {
  std::uint64_t stars = 0, seed = 0, rejected = 0;
  std::string grid_source, grid_checksum;
  std::string blend;  // empty: ln F_λ (the default, not written); else blend_name() of the comparison blend
  std::vector<std::pair<std::string, double>> prior;
};

void write_header(h5::File& f, const Header& h) {
  f.set_attr("/", "format", std::string(kFormat));
  f.set_attr("/", "format_version", kFormatVersion);
  f.set_attr("/", "code_version", std::string(IRISML_VERSION));
  f.set_attr("/", "stars", static_cast<std::int64_t>(h.stars));
  f.set_attr("/", "seed", static_cast<std::int64_t>(h.seed));
  f.set_attr("/", "rejected_proposals", static_cast<std::int64_t>(h.rejected));
  f.set_attr("/", "grid_source", h.grid_source);
  f.set_attr("/", "grid_checksum", h.grid_checksum);
  if (!h.blend.empty()) f.set_attr("/", "blend", h.blend);
  f.set_attr("/", "magnitude_convention",
             std::string("noise-free magnitudes of a 1 R_sun star at 10 pc, in each filter's system (AB or Vega) "
                         "as in the filter registry"));
  for (const auto& [name, value] : h.prior) f.set_attr("/", "prior." + name, value);
}

Header read_header(const h5::File& f) {
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kFormat) {
    fail_input("'{}' is not an IrisML training set (root attribute format != '{}')", f.path(), kFormat);
  }
  Header h;
  h.stars = static_cast<std::uint64_t>(f.attr_int("/", "stars"));
  h.seed = static_cast<std::uint64_t>(f.attr_int("/", "seed"));
  h.rejected = static_cast<std::uint64_t>(f.attr_int("/", "rejected_proposals"));
  h.grid_source = f.attr_string("/", "grid_source");
  h.grid_checksum = f.attr_string("/", "grid_checksum");
  if (f.has_attr("/", "blend")) h.blend = f.attr_string("/", "blend");
  for (const auto& name : f.attr_names("/")) {
    if (name.rfind("prior.", 0) == 0) h.prior.emplace_back(name.substr(6), f.attr_double("/", name));
  }
  // attr_names is alphabetical; the writer uses the prior's own order, so
  // restore it to keep rewritten files byte-identical to fresh ones.
  std::vector<std::pair<std::string, double>> ordered;
  PriorConfig every_key;
  every_key.kind = 1.0;  // the isochrone keys too
  for (const auto& [name, value] : every_key.items()) {
    for (const auto& item : h.prior) {
      if (item.first == name) ordered.push_back(item);
    }
  }
  if (ordered.size() == h.prior.size()) h.prior = ordered;
  return h;
}

// Fills rows [row0, row0+n) of the local block: parameters (n×5), magnitudes (n×F)
// and, for a set with mass windows, the windows (n×3; else null). Returns rejected
// proposals in that block.
using BlockFiller =
    std::function<std::uint64_t(std::uint64_t row0, std::uint64_t n, double* params, float* mags, float* windows)>;

constexpr std::uint64_t kWindowWidth = kMassWindowWidth;  // as a row count type

class Progress {
 public:
  Progress(bool enabled, std::uint64_t total, int size, const char* what)
      : enabled_(enabled && log::rank() == 0), total_(total), size_(size), what_(what) {}
  void update(std::uint64_t local_done) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(10)) return;  // at most a line per 10 s
    last_ = now;
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double done = std::min<double>(static_cast<double>(total_), static_cast<double>(local_done) * size_);
    double rate = done / std::max(elapsed, 1e-9);
    log::info("{}: {:.0f}/{} stars ({:.1f}%), {:.0f} stars/s, elapsed {}, ETA {}", what_, done, total_,
              100.0 * done / std::max<double>(1, total_), rate, format_duration(elapsed),
              format_duration((static_cast<double>(total_) - done) / std::max(rate, 1e-9)));
  }

 private:
  bool enabled_;
  std::uint64_t total_;
  int size_;
  const char* what_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_ = start_;
};

SimulationReport write_set(const std::string& output, MPI_Comm comm, Header header,
                           const std::vector<std::string>& filters, bool mass_windows, std::uint64_t block_rows,
                           bool progress, const BlockFiller& fill, const char* what) {
  const int rank = distributed::rank_of(comm), size = distributed::size_of(comm);
  auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t n = header.stars, nf = filters.size();
  auto [begin, end] = shard_range(n, rank, size);
  const std::uint64_t local = end - begin;
  // Every rank takes part in the same number of collective writes.
  const std::uint64_t rounds = distributed::max_over_ranks((local + block_rows - 1) / block_rows, comm);

  const std::string partial = partial_path(output);
  std::uint64_t rejected_local = 0;
  std::optional<h5::File> file;
  try {
    file.emplace(h5::File::create(partial, comm));
    h5::File& f = *file;
    f.create_dataset<double>("parameters", {n, static_cast<std::uint64_t>(kParameterCount)});
    f.create_dataset<float>("magnitudes", {n, nf});
    if (mass_windows) f.create_dataset<float>(kMassWindowDataset, {n, kWindowWidth});
    f.write_strings("filters", filters);
    std::vector<std::string> names(kParameterNames, kParameterNames + kParameterCount);
    f.write_strings("parameter_names", names);
    std::vector<double> params;
    std::vector<float> mags, windows;
    Progress bar(progress, n, size, what);
    for (std::uint64_t r = 0; r < rounds; ++r) {
      std::uint64_t row0 = begin + std::min(local, r * block_rows);
      std::uint64_t rows = std::min(end, row0 + block_rows) - row0;
      params.resize(rows * kParameterCount);
      mags.resize(rows * nf);
      windows.resize(mass_windows ? rows * kWindowWidth : 0);
      if (rows > 0) {
        rejected_local += fill(row0, rows, params.data(), mags.data(), mass_windows ? windows.data() : nullptr);
      }
      f.write_rows<double>("parameters", row0, rows, params.data());
      f.write_rows<float>("magnitudes", row0, rows, mags.data());
      if (mass_windows) f.write_rows<float>(kMassWindowDataset, row0, rows, windows.data());
      bar.update(row0 + rows - begin);
    }
    header.rejected += distributed::sum_over_ranks(rejected_local, comm);  // add-filters keeps the original count
    write_header(f, header);
    f.close();
  } catch (const std::exception& e) {
    // Nothing to resume from: a set is written whole. The partial file goes (it may be
    // what filled the disk): discard() closes and removes it (rank 0), or rank 0 removes
    // what a failed create left.
    if (file) {
      file->discard();
    } else if (rank == 0) {
      std::remove(partial.c_str());
    }
    if (dynamic_cast<const InputError*>(&e)) throw;
    throw IoError(fmt::format("{} (the unfinished '{}' was removed; free space and rerun)", e.what(), partial));
  }
  distributed::barrier(comm);  // every rank's data is on disk before the rename
  distributed::on_root_agreed([&] { commit_partial(output); }, comm,
                              fmt::format("renaming the finished '{}'", partial));
  SimulationReport report;
  report.stars = n;
  report.rejected = header.rejected;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace

SimulationReport simulate(const SimulationSpec& spec, const Prior& prior, const Synthesizer& synth,
                          const std::string& output, MPI_Comm comm) {
  if (spec.block_rows == 0) fail_input("block_rows must be positive");
  Header header;
  header.stars = spec.stars;
  header.seed = spec.seed;
  header.grid_source = synth.grid().source;
  header.grid_checksum = synth.grid().checksum;
  header.blend = blend_attribute(synth.blend());
  for (const auto& [name, value] : prior.config().items()) header.prior.emplace_back(name, value);
  const std::size_t nf = synth.bands().size();
  std::vector<double> work, row(nf);
  auto fill = [&](std::uint64_t row0, std::uint64_t rows, double* params, float* mags,
                  float* windows) -> std::uint64_t {
    std::uint64_t rejected = 0;
    for (std::uint64_t i = 0; i < rows; ++i) {
      StarParameters p;
      rejected += prior.draw(spec.seed, row0 + i, p);
      if (!synth.magnitudes(p, row.data(), work)) {
        throw Error(
            fmt::format("internal error: the prior proposed star {} at Teff={} logg={} [M/H]={} outside the "
                        "grid",
                        row0 + i, p.teff, p.logg, p.mh));
      }
      double* pp = params + i * kParameterCount;
      pp[0] = p.teff, pp[1] = p.logg, pp[2] = p.mh, pp[3] = p.av, pp[4] = p.rv;
      for (std::size_t b = 0; b < nf; ++b) mags[i * nf + b] = static_cast<float>(row[b]);
      if (windows) {
        const Prior::IsochroneMass m = prior.isochrone_mass(p);
        float* w = windows + i * kWindowWidth;
        w[0] = static_cast<float>(m.iso_weight), w[1] = static_cast<float>(m.log_lo),
        w[2] = static_cast<float>(m.log_hi);
      }
    }
    return rejected;
  };
  return write_set(output, comm, header, synth.bands(), prior.isochrone(), spec.block_rows, spec.progress, fill,
                   "simulate");
}

TrainingSetInfo read_training_set_info(const std::string& path) {
  auto f = h5::File::open(path);
  Header h = read_header(f);
  TrainingSetInfo info;
  info.stars = h.stars;
  info.seed = h.seed;
  info.filters = f.read_strings("filters");
  info.grid_checksum = h.grid_checksum;
  info.prior = h.prior;
  auto pd = f.dims("parameters");
  auto md = f.dims("magnitudes");
  if (pd.size() != 2 || pd[0] != h.stars || pd[1] != kParameterCount) {
    fail_input("'{}': /parameters should be {}x{}", path, h.stars, kParameterCount);
  }
  if (md.size() != 2 || md[0] != h.stars || md[1] != info.filters.size()) {
    fail_input("'{}': /magnitudes should be {}x{} (stars x filters)", path, h.stars, info.filters.size());
  }
  if (f.exists(kMassWindowDataset)) {
    auto wd = f.dims(kMassWindowDataset);
    if (wd.size() != 2 || wd[0] != h.stars || wd[1] != kWindowWidth) {
      fail_input("'{}': {} should be {}x{} (stars x (iso_weight, log10 M lo, log10 M hi))", path, kMassWindowDataset,
                 h.stars, kWindowWidth);
    }
  }
  return info;
}

SimulationReport add_filters(const std::string& input, const Synthesizer& synth, const std::string& output,
                             MPI_Comm comm, bool progress) {
  TrainingSetInfo info = read_training_set_info(input);
  Header header;
  {
    auto f = h5::File::open(input);
    header = read_header(f);
  }
  if (header.blend != blend_attribute(synth.blend())) {
    fail_input("'{}' was simulated with the {} blend; add-filters would compute the new bands with the {} one", input,
               header.blend.empty() ? blend_name(Blend::LogFlux) : header.blend, blend_name(synth.blend()));
  }
  for (const auto& band : synth.bands()) {
    if (std::find(info.filters.begin(), info.filters.end(), band) != info.filters.end()) {
      fail_input("filter '{}' is already in '{}'; it has: {}", band, input, fmt::join(info.filters, ", "));
    }
  }
  if (header.grid_checksum != synth.grid().checksum) {
    fail_input(
        "'{}' was simulated from a grid with checksum {} but the grid given ('{}') has checksum {}; the new "
        "columns would not match the old ones",
        input, header.grid_checksum, synth.grid().source, synth.grid().checksum);
  }
  std::vector<std::string> filters = info.filters;
  filters.insert(filters.end(), synth.bands().begin(), synth.bands().end());
  const std::size_t old_nf = info.filters.size(), new_nf = synth.bands().size(), nf = filters.size();

  // The input stays open read-only (independently per rank) while the
  // output is written under its partial name.
  auto in = h5::File::open(input);
  const bool mass_windows = in.exists(kMassWindowDataset);
  std::vector<double> work, row(new_nf);
  std::vector<float> old_mags;
  auto fill = [&](std::uint64_t row0, std::uint64_t rows, double* params, float* mags,
                  float* windows) -> std::uint64_t {
    in.read_rows<double>("parameters", row0, rows, params);
    if (windows) in.read_rows<float>(kMassWindowDataset, row0, rows, windows);
    old_mags.resize(rows * old_nf);
    in.read_rows<float>("magnitudes", row0, rows, old_mags.data());
    for (std::uint64_t i = 0; i < rows; ++i) {
      const double* pp = params + i * kParameterCount;
      StarParameters p{pp[0], pp[1], pp[2], pp[3], pp[4]};
      if (!synth.magnitudes(p, row.data(), work)) {
        fail_input("'{}' row {}: Teff={} logg={} [M/H]={} is outside the grid '{}'", input, row0 + i, p.teff, p.logg,
                   p.mh, synth.grid().source);
      }
      std::copy(old_mags.begin() + i * old_nf, old_mags.begin() + (i + 1) * old_nf, mags + i * nf);
      for (std::size_t b = 0; b < new_nf; ++b) mags[i * nf + old_nf + b] = static_cast<float>(row[b]);
    }
    return 0;
  };
  return write_set(output, comm, header, filters, mass_windows, SimulationSpec{}.block_rows, progress, fill,
                   "add-filters");
}

}  // namespace irisml::simulate
