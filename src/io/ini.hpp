// A small INI reader shared by the filter registry (configs/filters.ini) and the column
// presets (configs/column_presets.ini).
//
// `[section]` headers, `key = value` lines (keys lower-cased, values trimmed), comments
// from '#' or ';' at the start of a line or after white space, and continuation lines:
// an indented line without '=' is appended (after a space) to the previous value.
// A repeated key within a section is an error naming both lines.
#pragma once

#include <string>
#include <vector>

namespace irisml {

struct IniEntry {
  std::string key, value;
  int line = 0;
};

struct IniSection {
  std::string name;
  int line = 0;
  std::vector<IniEntry> entries;
};

// Reads `path`. `what` names the file in I/O errors ("filter registry", "column presets").
// Throws IoError if it cannot be read, InputError (file:line and the text) for bad syntax.
std::vector<IniSection> parse_ini(const std::string& path, const std::string& what);

}  // namespace irisml
