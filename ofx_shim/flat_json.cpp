#include "flat_json.h"

#include <cctype>
#include <cstdlib>

namespace dip {
namespace {

struct Reader {
  const std::string& s;
  size_t i = 0;

  void space() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  }
  bool take(char c) {
    space();
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }

  static void put_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(unsigned long& cp) {
    if (i + 4 > s.size()) return false;
    char* end = nullptr;
    const std::string digits = s.substr(i, 4);
    cp = std::strtoul(digits.c_str(), &end, 16);
    if (end != digits.c_str() + 4) return false;
    i += 4;
    return true;
  }

  bool string(std::string& out) {
    if (!take('"')) return false;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) return false;
      char e = s[i++];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          unsigned long cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u') {
            i += 2;
            unsigned long low = 0;
            if (!hex4(low)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: out += e;  // \" \\ \/
      }
    }
    return false;
  }

  // Skips any value (nested ones included), returning its literal text.
  bool value(std::string& out) {
    space();
    if (i >= s.size()) return false;
    if (s[i] == '"') return string(out);
    const size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (in_string) {
        if (c == '\\') ++i;
        else if (c == '"') in_string = false;
        continue;
      }
      if (c == '"') in_string = true;
      else if (c == '{' || c == '[') ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    out = s.substr(start, i - start);
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    return !out.empty();
  }
};

}  // namespace

bool parse_flat_json(const std::string& text, std::map<std::string, std::string>& out) {
  Reader r{text};
  if (!r.take('{')) return false;
  if (r.take('}')) return true;
  do {
    std::string key, val;
    if (!r.string(key) || !r.take(':') || !r.value(val)) return false;
    out[key] = val;
  } while (r.take(','));
  return r.take('}');
}

}  // namespace dip
