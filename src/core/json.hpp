// JSON text pieces for the project's hand-written JSON outputs (metrics.json,
// train_log.jsonl, reference.json): one definition of string escaping and numbers.
#pragma once

#include <cmath>
#include <string>

#include <fmt/format.h>

namespace irisml {

// `s` as a JSON string literal: quotes, backslashes and control characters escaped.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// A number, or null when not finite (JSON has no NaN or infinity): the shortest text that
// reads back to the same double, or `significant` digits when given.
inline std::string json_number(double v, int significant = 0) {
  if (!std::isfinite(v)) return "null";
  return significant > 0 ? fmt::format("{:.{}g}", v, significant) : fmt::format("{}", v);
}

}  // namespace irisml
