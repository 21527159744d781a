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

// "<path> size=<bytes> mtime=<ticks>": a file's part of a resume key (a changed input
// file makes an unfinished run not resumable).
std::string file_identity(const std::string& path);

// False when the file is missing or not a progress file of this version.
bool read_progress(const std::string& path, Progress& p);

// Writes the sidecar atomically (temporary file + rename); IoError on failure.
void write_progress(const std::string& path, const Progress& p);

}  // namespace irisml::infer
