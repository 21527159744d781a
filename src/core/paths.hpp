// Where reference data lives, and atomic output files.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace irisml {

// The reference-data directory: the explicit setting if non-empty, else
// $IRISML_DATA_DIR, else the build-time default (../shared/data seen from the
// repository root). Throws InputError if the directory does not exist,
// naming where the setting came from.
std::string resolve_data_dir(const std::string& explicit_setting);

// Joins a data-relative path onto a directory unless it is already absolute.
std::string join_path(const std::string& dir, const std::string& relative);

// The temporary name an output is written under before it is renamed into place.
std::string partial_path(const std::string& output);

// Fails with InputError if `output` exists and overwrite is false, or if its
// directory does not exist or is not writable. `what` names the setting.
void check_output_path(const std::string& output, bool overwrite, const std::string& what);

// After a failed write of `path`: " (N bytes free on its file system)" when the file
// system holding it has under 1 MiB available (MPI-IO's errors do not say so), else "".
std::string full_disk_note(const std::string& path);

// Renames the partial file onto the final name (atomic on one filesystem).
void commit_partial(const std::string& output);

// The files a job writes for `output`: the output itself, its partial file, its resume
// sidecar ("<output>.progress") and its lock ("<output>.lock").
std::vector<std::string> output_family(const std::string& output);

// InputError (exit 2) if the output or any file of its family is the same file (device
// and inode, through symlinks and ./..) as one of `inputs` (path, option name): whatever
// --overwrite says, a job never writes over what it reads. Names both options.
void check_outputs_not_inputs(const std::string& output, const std::string& what_output,
                              const std::vector<std::pair<std::string, std::string>>& inputs);

bool file_exists(const std::string& path);

}  // namespace irisml
