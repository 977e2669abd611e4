// The environment record `python_env.cfg` that `ofx-dipmatte install-plugin` writes
// into the bundle's Contents/Resources: one `key=value` per line, `#` comments,
// repeated keys for lists. Kept trivially parseable from C++ on purpose.
//
//   version=3.11                       major.minor of the Python
//   executable=/path/venv/bin/python
//   home=/usr                          sys.base_prefix
//   libpython=/usr/lib/libpython3.11.so.1.0   (empty when it has none: only the worker can run then)
//   path=/usr/lib/python3.11           stdlib and lib-dynload (sys.path before site)
//   sitedir=/path/venv/lib/python3.11/site-packages   (processed with site.addsitedir)
#pragma once

#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace dip {

struct EnvRecord {
  std::map<std::string, std::vector<std::string>> values;

  std::string get(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() || it->second.empty() ? std::string() : it->second.front();
  }
  std::vector<std::string> list(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? std::vector<std::string>() : it->second;
  }
};

// Reads `path`; returns false (and says why in `error`) when it cannot be read.
inline bool read_env_record(const std::string& path, EnvRecord& record, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read the environment record " + path;
    return false;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    record.values[line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  for (const char* key : {"version", "executable"}) {
    if (record.get(key).empty()) {
      error = "the environment record " + path + " has no '" + key + "' line";
      return false;
    }
  }
  return true;
}

}  // namespace dip
