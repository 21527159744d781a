// The catalogue job behind `irisml sample` and `irisml fit` (sample_catalog,
// process_catalog), as a sequence of stages over the ranks of `comm`:
//   plan         the block split, this rank's share, the /id width, the output layout and
//                the resume key;
//   resume       rank 0 reads the progress sidecar and decides: continue, start over, or
//                refuse an unfinished run of other inputs;
//   open output  reopen the partial file collectively (checking its layout), or lay it
//                out on rank 0 and open it collectively;
//   blocks       each round every rank reads and processes one block (or idles), all agree
//                on failure, write collectively, record progress, and poll stop signals;
//   finish       sum the counts; rename into place when every block is written.
// Every collective call is made by every rank in the same order; rank-0-only actions are
// the sidecar, the file layout and the final rename.
#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <exception>
#include <optional>
#include <tuple>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/shard.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "distributed/collectives.hpp"
#include "infer/posterior_writer.hpp"
#include "infer/progress.hpp"
#include "infer/catalog_job.hpp"
#include "io/catalog.hpp"
#include "io/hdf5.hpp"

namespace irisml::infer {

namespace {

// Rethrows `error` (or, if null, an Error with `otherwise`) with `suffix` appended,
// keeping the project's error kind (exit code 2 for input, 1 otherwise) and dropping
// LibTorch's C++ backtrace from its messages.
[[noreturn]] void rethrow_with_suffix(const std::exception_ptr& error, const std::string& otherwise,
                                      const std::string& suffix) {
  if (!error) throw Error(otherwise + suffix);
  try {
    std::rethrow_exception(error);
  } catch (const InputError& e) {
    throw InputError(e.what() + suffix);
  } catch (const IoError& e) {
    throw IoError(e.what() + suffix);
  } catch (const c10::Error& e) {
    throw Error(e.what_without_backtrace() + suffix);
  } catch (const std::exception& e) {
    throw Error(e.what() + suffix);
  }
}

// What every stage shares.
struct Job {
  BlockProcessor& processor;
  const CatalogReader& catalog;
  const SampleJob& spec;
  const SamplerSettings& settings;
  bool with_ppc;
  MPI_Comm comm;
  std::string verb;
  int rank = 0, size = 1;
  double t_start = 0;

  // plan
  std::vector<int> column_filter{};
  std::uint64_t rows = 0, block_rows = 0, n_blocks = 0, my_begin = 0, my_end = 0;
  OutputLayout layout{};
  std::string key{}, partial{}, sidecar{};
  // resume / open output
  Progress progress{};
  bool resume = false;
  std::optional<h5::File> file{};
};

// The longest id over all rows (a read pass over this rank's blocks, then a max over ranks).
std::size_t id_width_over_ranks(const Job& j) {
  if (!j.catalog.has_id()) return 0;
  std::uint64_t local = 0;
  std::exception_ptr read_error;
  try {
    for (std::uint64_t b = j.my_begin; b < j.my_end; ++b) {
      const std::uint64_t r0 = b * j.block_rows, n = std::min(j.block_rows, j.rows - r0);
      for (const auto& id : j.catalog.read(r0, n).id) local = std::max<std::uint64_t>(local, id.size());
    }
  } catch (...) {
    read_error = std::current_exception();
  }
  distributed::agree_on_failure(read_error, j.comm, "while reading the catalogue");
  return std::max<std::size_t>(1, static_cast<std::size_t>(distributed::max_over_ranks(local, j.comm)));
}

// The resume key of a job: every input (by content) and setting that changes the output.
std::string resume_key(const Job& j, std::size_t id_width) {
  std::error_code ec;  // the output however it is named (relative, absolute, ./..)
  const std::string canonical_output = std::filesystem::weakly_canonical(j.spec.output, ec).string();
  // The processor's extra datasets too, when there are any: a partial file of another
  // layout (an older version, say, before /physical/age) is refused rather than written
  // into. (A job without extra datasets keeps the key it always had.)
  std::vector<std::string> extra;
  for (const auto& c : j.layout.extra) extra.push_back(c.name);
  std::string key = fmt::format(
      "{} rows={} blocks={} catalog=[{}] catalog_filters={} model=[{}] model_filters={} samples={} keep_samples={} "
      "seed={} block_rows={} id_width={} output={} processor=[{}] inputs=[{}]{}",
      j.verb, j.rows, j.n_blocks, file_identity(j.catalog.path()), fmt::join(j.catalog.filters(), ","),
      file_identity(j.spec.model_path), fmt::join(j.spec.model_filters, ","), j.settings.samples,
      j.settings.keep_samples, j.settings.seed, j.block_rows, id_width, canonical_output, j.processor.describe(),
      j.spec.inputs_key, extra.empty() ? std::string() : fmt::format(" extra_datasets=[{}]", fmt::join(extra, ",")));
  // One line in the sidecar whatever the paths hold.
  for (std::size_t at = 0; (at = key.find_first_of("\n\r", at)) != std::string::npos; at += 2) {
    key.replace(at, 1, key[at] == '\n' ? "\\n" : "\\r");
  }
  return key;
}

void plan(Job& j, SampleReport& report) {
  j.column_filter = map_catalog_filters(j.catalog.filters(), j.spec.model_filters, j.spec.ignore_unknown_filters,
                                        j.catalog.path(), j.rank == 0);
  j.rows = j.catalog.rows();
  j.block_rows = j.settings.block_rows;
  j.n_blocks = (j.rows + j.block_rows - 1) / j.block_rows;
  report.rows = j.rows;
  report.blocks = j.n_blocks;
  std::tie(j.my_begin, j.my_end) = shard_range(j.n_blocks, j.rank, j.size);
  const std::size_t id_width = id_width_over_ranks(j);
  j.layout = OutputLayout{j.rows, j.settings.samples, j.settings.keep_samples, id_width, j.processor.extra_columns()};
  // The resume key: rank 0 alone reads, compares and writes the sidecar, so only it makes
  // the key (it reads a checksum's worth of the catalogue and the model).
  if (j.rank == 0) j.key = resume_key(j, id_width);
  j.partial = partial_path(j.spec.output);
  j.sidecar = progress_path(j.spec.output);
  j.progress.key = j.key;
  j.progress.done.assign(j.n_blocks, 0);
}

// Rank 0 decides whether an earlier run can be resumed; every rank learns the decision
// and the finished blocks.
void decide_resume(Job& j) {
  // 1 = continue; 0 = nothing to continue; -1 = an unfinished run of other inputs or
  // settings is in the way (refused unless spec.discard_unfinished).
  int resume = 0;
  std::string difference;
  if (j.rank == 0) {
    Progress old;
    if (read_progress(j.sidecar, old)) {
      const bool have_partial = file_exists(j.partial) && h5::is_hdf5(j.partial);
      if (old.key == j.key && old.done.size() == j.n_blocks && have_partial) {
        resume = 1;
        j.progress.done = old.done;
      } else if (!have_partial) {
        // Nothing to protect: the finished blocks it records are gone with their file.
        log::warn(
            "'{}' is left from an earlier run of '{}' whose partial output '{}' is missing{}; nothing can be "
            "resumed, starting over",
            j.sidecar, j.spec.output, j.partial, file_exists(j.partial) ? " (not HDF5)" : "");
      } else if (j.spec.discard_unfinished) {
        log::warn(
            "'{}' belongs to a different run (other inputs or settings) or its partial output is missing; "
            "discarding it (--overwrite)",
            j.sidecar);
      } else {
        resume = -1;
        difference = describe_key_difference(old.key, j.key);
      }
    }
  }
  resume = distributed::broadcast_from_root(resume, j.comm);
  if (resume < 0) {
    difference = distributed::broadcast_from_root(difference, j.comm);
    fail_input(
        "'{}' records an unfinished run of '{}' with other inputs or settings ({}); rerun that command to "
        "finish it, or pass --overwrite to discard the blocks it finished in '{}'",
        j.sidecar, j.spec.output, difference, j.partial);
  }
  // Every rank must see the partial file before the collective open (a node-local
  // directory would otherwise leave the others waiting inside it).
  if (resume && !distributed::every_rank(file_exists(j.partial) && h5::is_hdf5(j.partial), j.comm)) {
    fail_io(
        "partial output '{}' is not visible (or not HDF5) on every rank; the output directory must be on a "
        "file system all ranks share",
        j.partial);
  }
  if (j.n_blocks > 0) distributed::broadcast_from_root(j.progress.done, j.comm);
  j.resume = resume == 1;
}

void open_output(Job& j) {
  if (j.resume) {
    bool ok = true;
    try {
      j.file.emplace(h5::File::open(j.partial, /*writable=*/true, j.comm));
      ok = layout_matches(*j.file, j.layout);
    } catch (const Error&) {
      ok = false;
    }
    if (!distributed::every_rank(ok, j.comm)) {
      if (j.file) j.file->close();
      j.file.reset();
      j.resume = false;
      std::fill(j.progress.done.begin(), j.progress.done.end(), 0);
      log::warn("partial output '{}' does not match this run; starting over", j.partial);
    }
  }
  if (!j.resume) {
    // Rank 0 lays the file out serially (attributes, every dataset allocated), so the
    // metadata bytes do not depend on the number of ranks; all ranks then open it
    // collectively and only write raw data (metadata is never dirtied again).
    std::string message;  // empty: rank 0 laid the file out
    if (j.rank == 0) {
      try {
        auto f = h5::File::create(j.partial);
        create_output(f, j.layout, j.spec, j.settings, j.catalog.path(), j.with_ppc, j.processor);
        f.close();
        write_progress(j.sidecar, j.progress);
      } catch (const std::exception& e) {
        message = e.what();
        if (message.empty()) message = "unknown error";
      }
    }
    message = distributed::broadcast_from_root(message, j.comm);
    if (!message.empty()) {
      if (j.rank == 0) fail_io("{}", message);
      fail_io("rank 0 could not create '{}': {}", j.partial, message);
    }
    j.file.emplace(h5::File::open(j.partial, /*writable=*/true, j.comm));
  }
}

std::uint64_t blocks_done(const Job& j) {
  return static_cast<std::uint64_t>(std::count(j.progress.done.begin(), j.progress.done.end(), 1));
}

// A failure on one rank must not leave the others waiting in a collective: local work
// runs under try, every rank learns of any failure here, and all of them throw together
// (so the collective file close still matches up). The partial output is kept when it
// holds finished blocks worth resuming, removed otherwise.
void agree_or_throw(Job& j, const std::exception_ptr& local_error, const char* during) {
  if (!distributed::any_rank_failed(local_error, j.comm)) return;
  auto n_done = blocks_done(j);
  bool closed = true;
  try {
    j.file->close();
  } catch (const std::exception&) {  // the original error matters more
    closed = false;
  }
  if (!closed) {
    // HDF5 could not write its metadata (a full disk): the partial file is not readable,
    // its blocks cannot be resumed. Discard it (a plain close would leave HDF5 holding it).
    j.file->discard();
    n_done = 0;
  }
  j.file.reset();
  std::string what;
  if (n_done > 0) {
    what =
        fmt::format("; the {} finished block(s) are kept in '{}': fix the cause and rerun the same command to resume",
                    n_done, j.partial);
  } else {
    if (j.rank == 0) {
      std::remove(j.partial.c_str());
      std::remove(j.sidecar.c_str());
    }
    what = closed
               ? fmt::format("; no block was finished, so this run's '{}' and '{}' were removed", j.partial, j.sidecar)
               : fmt::format(
                     "; '{}' could not be closed (its metadata could not be written), so it and '{}' "
                     "were removed: a rerun starts over",
                     j.partial, j.sidecar);
  }
  rethrow_with_suffix(local_error, fmt::format("another rank failed {} (its message is above)", during), what);
}

// Per-rank counts of this run: sampled, too few bands, outside training, PPC, dropped, low ESS,
// missing, upper limits, non-positive fluxes.
using Counts = std::vector<std::uint64_t>;

void run_blocks(Job& j, SampleReport& report, Counts& counts) {
  std::vector<std::uint64_t> todo;
  for (std::uint64_t b = j.my_begin; b < j.my_end; ++b) {
    if (!j.progress.done[b]) todo.push_back(b);
  }
  std::uint64_t local_iters = todo.size();
  if (j.settings.max_blocks > 0) local_iters = std::min<std::uint64_t>(local_iters, j.settings.max_blocks);
  const std::uint64_t iters = distributed::max_over_ranks(local_iters, j.comm);

  BlockResult res;
  StarBlock stars;
  stars.column_filter = j.column_filter;
  stars.n_columns = static_cast<int>(j.column_filter.size());
  double last_log = now_seconds();
  for (std::uint64_t it = 0; it < iters; ++it) {
    std::uint64_t row0 = 0, nrows = 0;
    std::int64_t block = -1;
    std::vector<std::string> ids;
    std::exception_ptr local_error;
    if (it < local_iters) {
      block = static_cast<std::int64_t>(todo[it]);
      row0 = todo[it] * j.block_rows;
      nrows = std::min(j.block_rows, j.rows - row0);
      try {
        CatalogBlock cb = j.catalog.read(row0, nrows);
        stars.row0 = row0;
        stars.rows = nrows;
        stars.mag = std::move(cb.mag);
        stars.err = std::move(cb.err);
        stars.constraints = std::move(cb.constraints);
        counts[9] += static_cast<std::uint64_t>(cb.constraints_dropped);
        ids = std::move(cb.id);
        for (auto d : cb.dropped_unusable) counts[4] += static_cast<std::uint64_t>(d);
        for (auto d : cb.missing) counts[6] += static_cast<std::uint64_t>(d);
        for (auto d : cb.upper_limits) counts[7] += static_cast<std::uint64_t>(d);
        for (auto d : cb.nonpositive_flux) counts[8] += static_cast<std::uint64_t>(d);
        j.processor.run(stars, res);
        for (std::uint64_t r = 0; r < nrows; ++r) {
          counts[0] += (res.flags[r] & kFlagTooFewBands) ? 0 : 1;
          counts[1] += (res.flags[r] & kFlagTooFewBands) ? 1 : 0;
          counts[2] += (res.flags[r] & kFlagOutsideTrainingRange) ? 1 : 0;
          counts[3] += (res.flags[r] & kFlagPpc) ? 1 : 0;
          counts[5] += (res.flags[r] & kFlagLowEss) ? 1 : 0;
        }
      } catch (...) {
        local_error = std::current_exception();
      }
    }
    agree_or_throw(j, local_error, "while reading or sampling a block");
    // Every rank takes part in every collective write, with an empty selection if idle; a
    // failed write (a full disk) ends the run like any other failure: finished blocks kept
    // for a resume, or nothing left behind.
    try {
      write_block(*j.file, j.layout, row0, nrows, res, ids);
    } catch (...) {
      local_error = std::current_exception();
    }
    agree_or_throw(j, local_error, "while writing a block");
    for (std::int64_t b : distributed::gather_from_all(block, j.comm)) {
      if (b < 0) continue;
      j.progress.done[static_cast<std::size_t>(b)] = 1;
      ++report.blocks_run;
    }
    if (j.rank == 0) {
      try {
        write_progress(j.sidecar, j.progress);
      } catch (...) {
        local_error = std::current_exception();
      }
    }
    agree_or_throw(j, local_error, "while recording progress");
    const bool any_stop = distributed::any_rank(StopSignals::received() != 0, j.comm);
    if (j.settings.progress && j.rank == 0 && (now_seconds() - last_log > 10.0 || it + 1 == iters)) {
      last_log = now_seconds();
      const double elapsed = last_log - j.t_start;
      // ETA from this run's pace over the blocks it finished (all ranks).
      const std::uint64_t left = j.n_blocks - blocks_done(j);
      const std::string eta =
          report.blocks_run > 0
              ? format_duration(elapsed * static_cast<double>(left) / static_cast<double>(report.blocks_run))
              : std::string("?");
      log::info("{}: {}/{} blocks done, elapsed {}, ~{:.0f} stars/s (all ranks), ETA {}", j.verb, blocks_done(j),
                j.n_blocks, format_duration(elapsed),
                static_cast<double>(report.blocks_run * j.block_rows) / std::max(elapsed, 1e-9), eta);
    }
    if (any_stop) {
      log::info("{}: stop signal received; {} blocks finished, rerun the same command to resume", j.verb,
                blocks_done(j));
      break;
    }
  }
}

void finish(Job& j, SampleReport& report, Counts& counts) {
  report.all_transfers_collective = distributed::every_rank(j.file->all_transfers_collective(), j.comm);
  distributed::sum_over_ranks(counts, j.comm);
  report.sampled = counts[0];
  report.too_few_bands = counts[1];
  report.outside_training = counts[2];
  report.ppc_high = counts[3];
  report.dropped_unusable = counts[4];
  report.low_ess = counts[5];
  report.missing = counts[6];
  report.upper_limits = counts[7];
  report.nonpositive_flux = counts[8];
  report.constraints_dropped = counts[9];

  const bool all_done = blocks_done(j) == j.n_blocks;
  j.file->close();
  j.file.reset();
  if (all_done) {
    distributed::barrier(j.comm);  // every rank's data is on disk before the rename
    distributed::on_root_agreed(
        [&] {
          commit_partial(j.spec.output);
          std::remove(j.sidecar.c_str());
        },
        j.comm, fmt::format("renaming '{}' to '{}'", j.partial, j.spec.output));
    report.complete = true;
  } else {
    report.interrupted = true;
  }
}

}  // namespace

SampleReport process_catalog(BlockProcessor& processor, const CatalogReader& catalog, const SampleJob& job,
                             const SamplerSettings& settings, bool with_ppc, MPI_Comm comm, const std::string& verb) {
  Job j{processor, catalog, job, settings, with_ppc, comm, verb};
  j.t_start = now_seconds();
  settings.validate();
  // From here on SIGTERM/SIGUSR1 only set a flag, read after each block.
  StopSignals signals(settings.handle_signals);
  h5::silence_errors();
  j.rank = distributed::rank_of(comm);
  j.size = distributed::size_of(comm);

  SampleReport report;
  plan(j, report);
  decide_resume(j);
  open_output(j);
  report.blocks_skipped = blocks_done(j);
  if (j.resume) {
    log::info("{}: resuming '{}': {} of {} blocks already done", verb, j.partial, report.blocks_skipped, j.n_blocks);
  }
  Counts counts(10, 0);
  run_blocks(j, report, counts);
  finish(j, report, counts);
  report.seconds = now_seconds() - j.t_start;
  return report;
}

}  // namespace irisml::infer
