#include "train/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <torch/torch.h>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/rng.hpp"
#include "core/shard.hpp"
#include "distributed/collectives.hpp"
#include "io/hdf5.hpp"
#include "simulate/simulator.hpp"

namespace irisml::train {

namespace {

// Every rank ends with all rows: rank r contributes rows [begin_r, end_r) of
// `width` values of `type` from `local`.
// `all` (rows × width) holds this rank's shard_range rows; every rank receives the others'
// in place (no second copy of the table).
template <typename T>
void allgather_rows_in_place(std::vector<T>& all, std::int64_t rows, int width, MPI_Datatype type, MPI_Comm comm) {
  const int size = distributed::size_of(comm);
  if (size == 1) return;
  if (rows > std::numeric_limits<int>::max()) fail_input("{} rows exceed what one MPI_Allgatherv moves", rows);
  std::vector<int> counts(static_cast<std::size_t>(size)), displs(static_cast<std::size_t>(size));
  for (int r = 0; r < size; ++r) {
    auto [b, e] = shard_range(static_cast<std::uint64_t>(rows), r, size);
    counts[static_cast<std::size_t>(r)] = static_cast<int>(e - b);
    displs[static_cast<std::size_t>(r)] = static_cast<int>(b);
  }
  distributed::allgather_rows_in_place(all.data(), counts, displs, width, type, comm);
}

std::string shape_text(const std::vector<std::uint64_t>& d) { return fmt::format("[{}]", fmt::join(d, ", ")); }

}  // namespace

std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t purpose) {
  // splitmix64 of (seed, purpose): independent-looking seeds per purpose.
  std::uint64_t z = seed ^ (purpose * 0x9E3779B97F4A7C15ull);
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

namespace {

// The file's column of each of the table's filters, in the table's order.
std::vector<int> filter_columns(const TrainingTable& t, const std::string& what) {
  std::unordered_map<std::string, int> column;
  for (std::size_t j = 0; j < t.file_filters.size(); ++j) column.emplace(t.file_filters[j], static_cast<int>(j));
  std::vector<int> cols;
  std::vector<std::string> unknown, seen;
  for (const auto& name : t.filters) {
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      fail_input("filter '{}' is listed twice in the model's filter list", name);
    }
    seen.push_back(name);
    auto it = column.find(name);
    if (it == column.end()) {
      unknown.push_back(name);
    } else {
      cols.push_back(it->second);
    }
  }
  if (!unknown.empty()) {
    fail_input("filter(s) {} are not in {} '{}'; its filters are: {}", fmt::join(unknown, ", "), what, t.path,
               fmt::join(t.file_filters, ", "));
  }
  return cols;
}

// Rows [b, b + n_local) of /magnitudes (width columns) into the table's rows from
// `offset`, keeping the used columns, through a bounded buffer: the same number of
// (collective) reads on every rank.
void read_magnitudes(h5::File& f, TrainingTable& t, const std::vector<int>& cols, int width, std::uint64_t b,
                     std::uint64_t n_local, std::uint64_t offset, int size) {
  constexpr std::uint64_t kChunkRows = 65536;
  const int kept = t.n_filters();
  const std::uint64_t largest_shard =
      (static_cast<std::uint64_t>(t.rows) + size - 1) / static_cast<std::uint64_t>(size);
  const std::uint64_t chunks = (largest_shard + kChunkRows - 1) / kChunkRows;  // the same on every rank (collective)
  std::vector<float> buffer(std::min(n_local, kChunkRows) * static_cast<std::uint64_t>(width));
  for (std::uint64_t c = 0; c < chunks; ++c) {
    const std::uint64_t i0 = std::min(c * kChunkRows, n_local), n = std::min(kChunkRows, n_local - i0);
    f.read_rows<float>("/magnitudes", b + i0, n, buffer.data());
    for (std::uint64_t i = 0; i < n; ++i) {
      float* row = t.magnitudes.data() + (offset + i0 + i) * static_cast<std::uint64_t>(kept);
      for (int j = 0; j < kept; ++j) {
        row[j] = buffer[i * static_cast<std::uint64_t>(width) +
                        static_cast<std::uint64_t>(cols[static_cast<std::size_t>(j)])];
      }
    }
  }
}

// Non-finite values would poison the loss: refuses them, naming the first row over all
// ranks (rows [b, e) of the file held here from `offset`; collective when size > 1).
void check_finite(const TrainingTable& t, std::uint64_t b, std::uint64_t e, std::uint64_t offset, int size,
                  MPI_Comm comm, const std::string& what) {
  const int kept = t.n_filters();
  std::int64_t bad_row = -1;
  for (std::uint64_t i = b; i < e && bad_row < 0; ++i) {
    const std::uint64_t k = i - b + offset;
    for (int j = 0; j < kept; ++j) {
      if (!std::isfinite(t.magnitudes[k * static_cast<std::uint64_t>(kept) + static_cast<std::uint64_t>(j)])) {
        bad_row = static_cast<std::int64_t>(i);
      }
    }
    for (int j = 0; j < 5; ++j) {
      if (!std::isfinite(t.parameters[k * 5 + static_cast<std::uint64_t>(j)])) bad_row = static_cast<std::int64_t>(i);
    }
  }
  std::int64_t first_bad = bad_row < 0 ? std::numeric_limits<std::int64_t>::max() : bad_row;
  const std::int64_t global_bad = size > 1 ? distributed::min_over_ranks(first_bad, comm) : first_bad;
  if (global_bad != std::numeric_limits<std::int64_t>::max()) {
    fail_input(
        "{} '{}': row {} holds a non-finite magnitude or parameter; training needs finite noise-free "
        "magnitudes in every used filter",
        what, t.path, global_bad);
  }
}

}  // namespace

TrainingTable load_training_table(const std::string& path, const std::vector<std::string>& filters, MPI_Comm comm,
                                  const std::string& what, TableLayout layout) {
  if (path.empty()) fail_input("{} is empty; give a training-set file from `irisml simulate`", what);
  if (!file_exists(path)) fail_input("{} '{}' does not exist", what, path);
  if (!h5::is_hdf5(path))
    fail_input("{} '{}' is not an HDF5 file (expected a training set from `irisml simulate`)", what, path);
  h5::silence_errors();
  auto f = h5::File::open(path, /*writable=*/false, distributed::size_of(comm) > 1 ? comm : MPI_COMM_NULL);
  for (const char* name : {"/parameters", "/magnitudes", "/filters"}) {
    if (!f.exists(name)) {
      fail_input(
          "{} '{}' has no dataset '{}'; a training set holds /parameters [N,5], /magnitudes [N,F] and "
          "/filters [F] (docs/training_set_format.md)",
          what, path, name);
    }
  }
  const auto pdims = f.dims("/parameters");
  const auto mdims = f.dims("/magnitudes");
  const auto fdims = f.dims("/filters");
  if (pdims.size() != 2 || pdims[1] != 5) {
    fail_input("{} '{}': /parameters has shape {}, expected [N, 5] (Teff, log g, [M/H], A_V, R_V)", what, path,
               shape_text(pdims));
  }
  if (mdims.size() != 2 || fdims.size() != 1 || mdims[1] != fdims[0] || mdims[0] != pdims[0]) {
    fail_input("{} '{}': /magnitudes has shape {}, /parameters {} and /filters {}; expected [N, F], [N, 5] and [F]",
               what, path, shape_text(mdims), shape_text(pdims), shape_text(fdims));
  }
  TrainingTable t;
  t.path = path;
  t.rows = static_cast<std::int64_t>(pdims[0]);
  t.file_filters = f.read_strings("/filters");
  if (t.rows == 0) fail_input("{} '{}' holds no stars", what, path);
  t.filters = filters.empty() ? t.file_filters : filters;
  const std::vector<int> cols = filter_columns(t, what);
  const int size = distributed::size_of(comm), rank = distributed::rank_of(comm);
  const int kept = t.n_filters();
  auto [b, e] = shard_range(static_cast<std::uint64_t>(t.rows), rank, size);
  const std::uint64_t n_local = e - b;
  const bool whole = layout == TableLayout::whole || size == 1;
  t.first = whole ? 0 : static_cast<std::int64_t>(b);
  t.held = whole ? t.rows : static_cast<std::int64_t>(n_local);
  t.shards = whole ? 1 : size;
  // Straight into the table's arrays (this rank's rows), the magnitudes through a bounded
  // buffer that keeps only the used columns: the peak is the table held here, once.
  const std::uint64_t offset = whole ? b : 0;  // of this rank's block in the arrays
  t.parameters.resize(static_cast<std::size_t>(t.held) * 5);
  t.magnitudes.resize(static_cast<std::size_t>(t.held) * static_cast<std::size_t>(kept));
  f.read_rows<double>("/parameters", b, n_local, t.parameters.data() + offset * 5);
  if (f.exists(simulate::kMassWindowDataset)) {
    const auto wdims = f.dims(simulate::kMassWindowDataset);
    if (wdims.size() != 2 || wdims[0] != pdims[0] || wdims[1] != simulate::kMassWindowWidth) {
      fail_input("{} '{}': {} has shape {}, expected [N, 3] (iso_weight, log10 M lo, log10 M hi) with N = {}", what,
                 path, simulate::kMassWindowDataset, shape_text(wdims), t.rows);
    }
    t.mass_windows.resize(static_cast<std::size_t>(t.held) * simulate::kMassWindowWidth);
    f.read_rows<float>(simulate::kMassWindowDataset, b, n_local,
                       t.mass_windows.data() + offset * simulate::kMassWindowWidth);
  }
  read_magnitudes(f, t, cols, static_cast<int>(mdims[1]), b, n_local, offset, size);
  f.close();
  check_finite(t, b, e, offset, size, comm, what);
  if (whole) {
    allgather_rows_in_place(t.parameters, t.rows, 5, MPI_DOUBLE, comm);
    allgather_rows_in_place(t.magnitudes, t.rows, kept, MPI_FLOAT, comm);
    if (t.has_mass_windows())
      allgather_rows_in_place(t.mass_windows, t.rows, simulate::kMassWindowWidth, MPI_FLOAT, comm);
  }
  return t;
}

RowBlock take_rows(const TrainingTable& table, const std::int64_t* rows, std::int64_t count) {
  const int F = table.n_filters();
  RowBlock block;
  block.n_filters = F;
  block.index.assign(rows, rows + count);
  block.magnitudes.resize(static_cast<std::size_t>(count * F));
  block.parameters.resize(static_cast<std::size_t>(count * 5));
  block.mass_windows.resize(table.has_mass_windows() ? static_cast<std::size_t>(count * simulate::kMassWindowWidth)
                                                     : 0);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = rows[i];
    if (row < table.first || row >= table.first + table.held) {
      throw std::logic_error(fmt::format("take_rows: row {} of '{}' is not held here (rows {} to {})", row, table.path,
                                         table.first, table.first + table.held - 1));
    }
    std::copy_n(table.magnitudes_of(row), F, block.magnitudes.data() + i * F);
    std::copy_n(table.parameters_of(row), 5, block.parameters.data() + i * 5);
    if (table.has_mass_windows()) {
      std::copy_n(table.mass_windows.data() + (row - table.first) * simulate::kMassWindowWidth,
                  simulate::kMassWindowWidth, block.mass_windows.data() + i * simulate::kMassWindowWidth);
    }
  }
  return block;
}

RowBlock gather_rows(const TrainingTable& table, const std::int64_t* rows, std::int64_t count, MPI_Comm comm) {
  if (table.whole()) return take_rows(table, rows, count);
  const int size = distributed::size_of(comm);
  if (table.shards != size) {
    throw std::logic_error(fmt::format("gather_rows: '{}' is sharded over {} ranks, not this communicator's {}",
                                       table.path, table.shards, size));
  }
  // Requests grouped by owner, each owner's in request order; slot[k]: where the k-th
  // answer goes in the result.
  std::vector<int> send_counts(static_cast<std::size_t>(size), 0), owner(static_cast<std::size_t>(count));
  std::exception_ptr error;
  for (std::int64_t i = 0; i < count; ++i) {
    if (rows[i] < 0 || rows[i] >= table.rows) {
      if (!error) {
        error = std::make_exception_ptr(std::logic_error(
            fmt::format("gather_rows: row {} is outside '{}' (rows 0 to {})", rows[i], table.path, table.rows - 1)));
      }
      continue;
    }
    const int r = shard_of(static_cast<std::uint64_t>(table.rows), static_cast<std::uint64_t>(rows[i]), size);
    owner[static_cast<std::size_t>(i)] = r;
    ++send_counts[static_cast<std::size_t>(r)];
  }
  distributed::agree_on_failure(error, comm, "gathering training rows");
  auto displacements = [size](const std::vector<int>& counts) {
    std::vector<int> displs(static_cast<std::size_t>(size), 0);
    for (int r = 1; r < size; ++r)
      displs[static_cast<std::size_t>(r)] =
          displs[static_cast<std::size_t>(r - 1)] + counts[static_cast<std::size_t>(r - 1)];
    return displs;
  };
  const auto send_displs = displacements(send_counts);
  std::vector<std::int64_t> request(static_cast<std::size_t>(count));
  std::vector<std::int64_t> slot(static_cast<std::size_t>(count));
  {
    auto next = send_displs;
    for (std::int64_t i = 0; i < count; ++i) {
      const int k = next[static_cast<std::size_t>(owner[static_cast<std::size_t>(i)])]++;
      request[static_cast<std::size_t>(k)] = rows[i];
      slot[static_cast<std::size_t>(k)] = i;
    }
  }
  const std::vector<int> recv_counts = distributed::exchange_counts(send_counts, comm);
  const auto recv_displs = displacements(recv_counts);
  const std::int64_t n_asked = recv_displs.back() + recv_counts.back();
  std::vector<std::int64_t> asked(static_cast<std::size_t>(n_asked));
  distributed::exchange_rows(request.data(), send_counts, send_displs, asked.data(), recv_counts, recv_displs, 1,
                             MPI_INT64_T, comm);
  // Answer in the order asked; the replies come back in request order.
  const RowBlock answer = take_rows(table, asked.data(), n_asked);
  const int F = table.n_filters();
  std::vector<float> mags(static_cast<std::size_t>(count * F));
  std::vector<double> params(static_cast<std::size_t>(count * 5));
  auto exchange = [&](const void* out, void* in, int width, MPI_Datatype element) {
    distributed::exchange_rows(out, recv_counts, recv_displs, in, send_counts, send_displs, width, element, comm);
  };
  exchange(answer.magnitudes.data(), mags.data(), F, MPI_FLOAT);
  exchange(answer.parameters.data(), params.data(), 5, MPI_DOUBLE);
  // The same on every rank (one file): the exchange is collective.
  const bool windows = table.has_mass_windows();
  std::vector<float> mass(windows ? static_cast<std::size_t>(count * simulate::kMassWindowWidth) : 0);
  if (windows) exchange(answer.mass_windows.data(), mass.data(), simulate::kMassWindowWidth, MPI_FLOAT);
  RowBlock block;
  block.n_filters = F;
  block.index.assign(rows, rows + count);
  block.magnitudes.resize(mags.size());
  block.parameters.resize(params.size());
  block.mass_windows.resize(mass.size());
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t i = slot[static_cast<std::size_t>(k)];
    std::copy_n(mags.data() + k * F, F, block.magnitudes.data() + i * F);
    std::copy_n(params.data() + k * 5, 5, block.parameters.data() + i * 5);
    if (windows) {
      std::copy_n(mass.data() + k * simulate::kMassWindowWidth, simulate::kMassWindowWidth,
                  block.mass_windows.data() + i * simulate::kMassWindowWidth);
    }
  }
  return block;
}

model::Normalizer::RowScan ordered_rows(const TrainingTable& table, std::int64_t n, MPI_Comm comm) {
  return [&table, n, comm](std::vector<double>& acc, const model::Normalizer::RowVisit& visit) {
    auto walk = [&](std::vector<double>& a) {
      const std::int64_t end = std::min(table.first + table.held, n);
      for (std::int64_t row = table.first; row < end; ++row)
        visit(a, row, table.magnitudes_of(row), table.parameters_of(row));
    };
    if (table.whole()) {
      walk(acc);
    } else {
      distributed::ordered_scan(acc, comm, walk, "computing statistics over the training rows");
    }
  };
}

std::vector<std::uint32_t> epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t n) {
  if (n < 0 || n > kMaxTrainingRows) {
    throw std::logic_error(fmt::format("epoch_permutation: {} rows (at most {})", n, kMaxTrainingRows));
  }
  std::vector<std::uint32_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(i);
  Philox rng(stream_seed(seed, kShuffleStream), static_cast<std::uint64_t>(epoch));
  for (std::int64_t i = n - 1; i > 0; --i) {
    // uniform() is in (0, 1): j in [0, i]
    auto j = static_cast<std::int64_t>(rng.uniform() * static_cast<double>(i + 1));
    if (j > i) j = i;
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
  }
  return perm;
}

TrainingBatch make_batch(const TrainingTable& table, const std::int64_t* rows, std::int64_t count,
                         const simulate::NoiseModel& noise, std::uint64_t noise_seed, std::uint64_t stream_base) {
  return make_batch(take_rows(table, rows, count), noise, noise_seed, stream_base);
}

TrainingBatch make_batch(const RowBlock& block, const simulate::NoiseModel& noise, std::uint64_t noise_seed,
                         std::uint64_t stream_base, std::int64_t begin, std::int64_t count) {
  if (count < 0) count = block.size() - begin;
  const int F = block.n_filters;
  std::vector<int> n_obs(static_cast<std::size_t>(count));
  std::vector<int> ids(static_cast<std::size_t>(count * F));
  std::vector<float> mags(static_cast<std::size_t>(count * F)), errs(static_cast<std::size_t>(count * F));
  int s_max = 1;
  const bool parallaxes = noise.parallaxes();
  const std::uint64_t parallax_seed = parallaxes ? stream_seed(noise_seed, kParallaxStream) : 0;
  const bool av_priors = noise.av_priors();
  const std::uint64_t av_seed = av_priors ? stream_seed(noise_seed, kAvPriorStream) : 0;
  auto nans = [count] { return torch::full({count}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32); };
  at::Tensor parallax, parallax_err, av_prior, av_prior_err;
  if (parallaxes) {
    parallax = nans();
    parallax_err = nans();
  }
  if (av_priors) {
    av_prior = nans();
    av_prior_err = nans();
  }
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t k = begin + i;
    const auto stream = stream_base + static_cast<std::uint64_t>(block.index[static_cast<std::size_t>(k)]);
    Philox rng(noise_seed, stream);
    const int n = simulate::observe_star(rng, block.magnitudes.data() + k * F, F, noise, ids.data() + i * F,
                                         mags.data() + i * F, errs.data() + i * F);
    n_obs[static_cast<std::size_t>(i)] = n;
    s_max = std::max(s_max, n);
    if (parallaxes) {
      double plx = 0, plx_err = 0, offset = 0;
      Philox parallax_rng(parallax_seed, stream);
      simulate::Prior::IsochroneMass window;
      const simulate::Prior::IsochroneMass* window_of_star = nullptr;
      if (!block.mass_windows.empty()) {
        const float* w = block.mass_windows.data() + k * simulate::kMassWindowWidth;
        window = {w[0], w[1], w[2]};
        window_of_star = &window;
      }
      if (simulate::observe_parallax(parallax_rng, block.magnitudes.data() + k * F, F,
                                     block.parameters[static_cast<std::size_t>(k * 5 + 1)], noise, plx, plx_err, offset,
                                     window_of_star)) {
        for (int s = 0; s < n; ++s) mags[static_cast<std::size_t>(i * F + s)] += static_cast<float>(offset);
        parallax.data_ptr<float>()[i] = static_cast<float>(plx);
        parallax_err.data_ptr<float>()[i] = static_cast<float>(plx_err);
      }
    }
    if (av_priors) {
      double av_mean = 0, av_width = 0;
      Philox av_rng(av_seed, stream);
      if (simulate::observe_av_prior(av_rng, block.parameters[static_cast<std::size_t>(k * 5 + 3)], noise, av_mean,
                                     av_width)) {
        av_prior.data_ptr<float>()[i] = static_cast<float>(av_mean);
        av_prior_err.data_ptr<float>()[i] = static_cast<float>(av_width);
      }
    }
  }
  auto filter_ids = torch::zeros({count, s_max}, torch::kInt64);
  auto magnitudes = torch::zeros({count, s_max}, torch::kFloat32);
  auto errors = torch::ones({count, s_max}, torch::kFloat32);
  auto mask = torch::zeros({count, s_max}, torch::kBool);
  auto theta = torch::empty({count, 5}, torch::kFloat64);
  auto* id_p = filter_ids.data_ptr<std::int64_t>();
  auto* mag_p = magnitudes.data_ptr<float>();
  auto* err_p = errors.data_ptr<float>();
  auto* mask_p = mask.data_ptr<bool>();
  auto* theta_p = theta.data_ptr<double>();
  for (std::int64_t i = 0; i < count; ++i) {
    const int n = n_obs[static_cast<std::size_t>(i)];
    for (int s = 0; s < n; ++s) {
      id_p[i * s_max + s] = ids[static_cast<std::size_t>(i * F + s)];
      mag_p[i * s_max + s] = mags[static_cast<std::size_t>(i * F + s)];
      err_p[i * s_max + s] = static_cast<float>(
          noise.network_error(errs[static_cast<std::size_t>(i * F + s)], ids[static_cast<std::size_t>(i * F + s)]));
      mask_p[i * s_max + s] = true;
    }
    std::copy_n(block.parameters.data() + (begin + i) * 5, 5, theta_p + i * 5);
  }
  model::ObservationBatch observations{filter_ids, magnitudes, errors, mask};
  observations.parallax = parallax;
  observations.parallax_err = parallax_err;
  observations.av_prior = av_prior;
  observations.av_prior_err = av_prior_err;
  return {observations, theta};
}

}  // namespace irisml::train
