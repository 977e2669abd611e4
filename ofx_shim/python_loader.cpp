// Find the recorded Python environment, load its libpython RTLD_GLOBAL (hosts dlopen
// plugins RTLD_LOCAL, and numpy's or torch's extension modules need libpython's
// symbols in the global scope), then load the pybind11 runtime library beside us.
#include "python_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "env_record.h"

#ifndef DIP_PYTHON_VERSION
#error "DIP_PYTHON_VERSION (major.minor) must be defined by the build"
#endif
#ifndef DIP_RUNTIME_LIBRARY
#error "DIP_RUNTIME_LIBRARY (file name of the Python runtime library) must be defined by the build"
#endif

namespace dip {
namespace {

constexpr const char* kEnvOverride = "OFX_DIPMATTE_ENV";
constexpr const char* kDoctorHint = " Run `ofx-dipmatte doctor` in a terminal to see what is wrong.";

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string dl_error() {
  const char* text = dlerror();
  return text ? text : "unknown dlopen error";
}

// If a Python is already in the process (the host's own, or pytest's), it must be ours.
bool running_python(std::string& version) {
  auto get_version = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "Py_GetVersion"));
  if (get_version == nullptr) return false;
  version = get_version();
  version = version.substr(0, version.find(' '));
  return true;
}

Runtime g_runtime;
std::string g_error;
std::once_flag g_once;

std::string load() {
  std::string running;
  std::string record_path = environment_record_path();
  DipEnvironment env{nullptr};
  if (running_python(running)) {
    if (running.rfind(std::string(DIP_PYTHON_VERSION) + ".", 0) != 0)
      return "the host already runs Python " + running + ", and this plugin needs Python " DIP_PYTHON_VERSION
             ": two Pythons cannot share one process.";
    env.config_path = record_path.empty() ? nullptr : record_path.c_str();
  } else {
    if (record_path.empty())
      return "no Python environment is recorded for this plugin. Run `ofx-dipmatte install-plugin` from the "
             "Python environment where ofx_dipmatte is installed (or set OFX_DIPMATTE_ENV to a python_env.cfg).";
    EnvRecord record;
    std::string error;
    if (!read_env_record(record_path, record, error)) return error + "." + kDoctorHint;
    std::string libpython = record.get("libpython");
    if (libpython.empty())
      return "the recorded Python (" + record.get("executable") + ") has no shared libpython, so it cannot run "
             "inside a host process; the plugin uses a separate process instead.";
    if (dlopen(libpython.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr)
      return "could not load " + libpython + " (" + dl_error() +
             "). The recorded Python must be built with a shared libpython." + kDoctorHint;
    env.config_path = record_path.c_str();
  }

  std::string runtime_path = binary_dir() + "/" + DIP_RUNTIME_LIBRARY;
  void* lib = dlopen(runtime_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return "could not load " + runtime_path + " (" + dl_error() + ")." + kDoctorHint;
  auto start = reinterpret_cast<DipStartFn>(dlsym(lib, "dip_start"));
  g_runtime.session_create = reinterpret_cast<DipSessionCreateFn>(dlsym(lib, "dip_session_create"));
  g_runtime.session_destroy = reinterpret_cast<DipSessionDestroyFn>(dlsym(lib, "dip_session_destroy"));
  g_runtime.session_purge = reinterpret_cast<DipSessionPurgeFn>(dlsym(lib, "dip_session_purge"));
  g_runtime.render = reinterpret_cast<DipRenderFn>(dlsym(lib, "dip_render"));
  if (!start || !g_runtime.session_create || !g_runtime.session_destroy || !g_runtime.session_purge ||
      !g_runtime.render)
    return runtime_path + " lacks the dip_* functions: the bundle is damaged; reinstall it.";
  char error[2048] = {0};
  if (start(&env, error, sizeof error) != DIP_OK) return std::string(error) + "." + kDoctorHint;
  return {};
}

}  // namespace

std::string environment_record_path() {
  if (const char* override_path = std::getenv(kEnvOverride); override_path && *override_path)
    return override_path;
  std::string path = binary_dir() + "/../Resources/python_env.cfg";
  return file_exists(path) ? path : std::string();
}

std::string binary_dir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&binary_dir), &info) == 0 || info.dli_fname == nullptr) return ".";
  std::string path = info.dli_fname;
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

const Runtime* load_python_runtime(std::string& error) {
  std::call_once(g_once, [] {
    try {
      g_error = load();
    } catch (std::exception& e) {
      g_error = std::string("could not start Python: ") + e.what();
    }
  });
  error = g_error;
  return g_error.empty() ? &g_runtime : nullptr;
}

}  // namespace dip
