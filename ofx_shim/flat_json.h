// The little JSON the worker protocol needs (see python/ofx_dipmatte/worker.py): writing
// strings, and reading flat objects whose values are strings, numbers, booleans or null.
// Nested values are skipped; the plugin never needs them.
#pragma once

#include <cstdio>
#include <map>
#include <string>

namespace dip {

inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

inline std::string json_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

// Parses `text` as one flat JSON object into `out` (strings unescaped, other values as
// their literal text). Returns false on malformed input.
bool parse_flat_json(const std::string& text, std::map<std::string, std::string>& out);

}  // namespace dip
