#include "io/ini.hpp"

#include <cctype>
#include <fstream>

#include "core/error.hpp"
#include "core/text.hpp"

namespace irisml {

namespace {

// Removes a comment: '#' or ';' at the start or after whitespace.
std::string strip_comment(const std::string& line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if ((line[i] == '#' || line[i] == ';') && (i == 0 || std::isspace(static_cast<unsigned char>(line[i - 1])))) {
      return line.substr(0, i);
    }
  }
  return line;
}

}  // namespace

std::vector<IniSection> parse_ini(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) fail_io("cannot read the {} '{}' (missing or unreadable)", what, path);
  std::vector<IniSection> sections;
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string text = trim(strip_comment(raw));
    if (text.empty()) continue;
    bool indented = std::isspace(static_cast<unsigned char>(raw.front())) != 0;
    if (text.front() == '[') {
      if (text.back() != ']') fail_input("{}:{}: section header '{}' has no closing ']'", path, line_no, text);
      std::string name = trim(text.substr(1, text.size() - 2));
      if (name.empty()) fail_input("{}:{}: empty section name '[]'", path, line_no);
      sections.push_back(IniSection{name, line_no, {}});
      continue;
    }
    std::size_t eq = text.find('=');
    if (eq == std::string::npos) {
      if (indented && !sections.empty() && !sections.back().entries.empty()) {
        std::string& value = sections.back().entries.back().value;
        value += value.empty() ? text : " " + text;
        continue;
      }
      fail_input("{}:{}: '{}' is not 'key = value', a [section] or a comment", path, line_no, text);
    }
    if (sections.empty()) fail_input("{}:{}: '{}' comes before any [section]", path, line_no, text);
    std::string key = lower(trim(text.substr(0, eq)));
    if (key.empty()) fail_input("{}:{}: empty key in '{}'", path, line_no, text);
    for (const auto& e : sections.back().entries) {
      if (e.key == key) {
        fail_input("{}:{}: key '{}' repeated in [{}] (first at line {})", path, line_no, key, sections.back().name,
                   e.line);
      }
    }
    sections.back().entries.push_back(IniEntry{key, trim(text.substr(eq + 1)), line_no});
  }
  if (in.bad()) fail_io("error while reading the {} '{}'", what, path);
  return sections;
}

}  // namespace irisml
