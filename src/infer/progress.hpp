// The resume sidecar of a catalogue job, "<output>.progress": which blocks of the partial
// output are written, and a key naming every input and setting those bytes depend on.
// Rank 0 rewrites it atomically after each block and reads it at start to resume.
// No torch here.
#pragma once

#include <string>
#include <vector>

namespace irisml::infer {

struct Progress {
  std::string key;
  std::vector<char> done;  // per block, 0/1
};

// Path of the resume sidecar of an output.
std::string progress_path(const std::string& output);

// "<canonical path> size=<bytes> content=<checksum>": a file's part of a resume key (a
// changed input file makes an unfinished run not resumable; the same file named another
// way, or only touched, does not). The checksum covers the first and last MiB.
std::string file_identity(const std::string& path);

// Which items of two resume keys differ ("name: was 'a', now 'b'", at most four), for a
// refusal that says what changed.
std::string describe_key_difference(const std::string& old_key, const std::string& new_key);

// False when the file is missing or not a progress file of this version.
bool read_progress(const std::string& path, Progress& p);

// Writes the sidecar atomically (temporary file + rename); IoError on failure.
void write_progress(const std::string& path, const Progress& p);

}  // namespace irisml::infer
