// The Python side of the plugin: one interpreter per process, the GIL, and the calls
// into ofx_dipmatte.ofx.bridge. Built as its own shared library, which the plugin
// dlopens only after libpython is loaded RTLD_GLOBAL (see python_loader.cpp); it
// exports only the dip_* functions of engine_abi.h.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "engine_abi.h"
#include "env_record.h"

namespace py = pybind11;

#define DIP_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

void set_error(char* error, size_t size, const std::string& text) {
  if (error == nullptr || size == 0) return;
  std::snprintf(error, size, "%s", text.c_str());
}

std::mutex g_start_mutex;
bool g_started = false;
std::string g_start_error;

// pybind11's error text ends with a traceback ("\n\nAt:\n..."); the host gets the first part.
std::string short_error(const py::error_already_set& e) {
  std::string text = e.what();
  auto at = text.find("\n\nAt:");
  if (at != std::string::npos) text.resize(at);
  if (text.size() > 1000) text = text.substr(0, 1000) + "...";
  return text;
}

std::string compiled_version() { return std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION); }

// Starts an isolated interpreter from the record: the host's PYTHONPATH/PYTHONHOME
// are ignored, no signal handlers are installed (the host keeps its own).
std::string start_interpreter(const std::string& config_path) {
  dip::EnvRecord record;
  std::string error;
  if (!dip::read_env_record(config_path, record, error)) return error;
  if (record.get("version") != compiled_version())
    return "the environment record " + config_path + " is for Python " + record.get("version") +
           " but this plugin was built for Python " + compiled_version() +
           ": reinstall ofx_dipmatte into that environment and run `ofx-dipmatte install-plugin` from it";

  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.install_signal_handlers = 0;
  config.parse_argv = 0;
  config.site_import = 1;
  config.user_site_directory = 0;
  auto check = [&](PyStatus status, const char* what) -> std::string {
    if (PyStatus_Exception(status))
      return std::string("could not configure Python (") + what + "): " +
             (status.err_msg ? status.err_msg : "unknown error");
    return {};
  };
  std::string problem;
  problem = check(PyConfig_SetBytesString(&config, &config.home, record.get("home").c_str()), "home");
  if (problem.empty() && !record.get("executable").empty())
    problem = check(PyConfig_SetBytesString(&config, &config.program_name, record.get("executable").c_str()),
                    "program name");
  if (problem.empty() && !record.list("path").empty()) {
    config.module_search_paths_set = 1;
    for (const auto& entry : record.list("path")) {
      wchar_t* decoded = Py_DecodeLocale(entry.c_str(), nullptr);
      if (decoded == nullptr) {
        problem = "could not decode the path " + entry;
        break;
      }
      problem = check(PyWideStringList_Append(&config.module_search_paths, decoded), "sys.path");
      PyMem_RawFree(decoded);
      if (!problem.empty()) break;
    }
  }
  if (problem.empty()) problem = check(Py_InitializeFromConfig(&config), "start");
  PyConfig_Clear(&config);
  if (!problem.empty()) return problem;

  // The interpreter is never finalised: extension modules (torch, numpy) cannot be
  // unloaded, and the host may dlclose us at any time.
  try {
    py::module_ site = py::module_::import("site");
    for (const auto& dir : record.list("sitedir")) site.attr("addsitedir")(dir);
  } catch (py::error_already_set& e) {
    std::string text = short_error(e);
    PyEval_SaveThread();
    return "could not add the environment's site-packages: " + text;
  }
  PyEval_SaveThread();  // the GIL is taken per call from now on
  return {};
}

// The host's signal dispositions. Python's `signal` module, imported by torch, installs
// its SIGINT handler whenever SIGINT is at its default, whatever install_signal_handlers
// says; a host must keep its own (Ctrl-C must still reach it), so they are put back.
struct HostSignals {
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXFSZ};
  struct sigaction saved[sizeof(kSignals) / sizeof(int)];
  HostSignals() {
    for (size_t i = 0; i < sizeof(kSignals) / sizeof(int); ++i) sigaction(kSignals[i], nullptr, &saved[i]);
  }
  void restore() const {
    for (size_t i = 0; i < sizeof(kSignals) / sizeof(int); ++i) sigaction(kSignals[i], &saved[i], nullptr);
  }
};

// The plugin and the package it calls must be one release: a bundle left installed when
// the package was upgraded (or the other way round) would call an interface that changed.
std::string same_release() {
  py::module_ package = py::module_::import("ofx_dipmatte");
  const std::string version = py::str(package.attr("__version__")).cast<std::string>();
  if (version == DIP_VERSION_LABEL) return {};
  return std::string("this plugin is from ofx_dipmatte ") + DIP_VERSION_LABEL + " but its Python environment holds " +
         version + " (" + py::str(package.attr("__file__")).cast<std::string>() +
         "): run `ofx-dipmatte install-plugin` again from that environment, then restart the host";
}

// Imports the bridge. In a host's own Python (adopted), ofx_dipmatte is usually not on
// its path: then the recorded environment's site dirs are appended (after the host's,
// so they do not shadow its packages) and the import is tried again.
std::string import_bridge(const char* record_path = nullptr) {
  py::gil_scoped_acquire gil;
  dip::EnvRecord record;
  try {
    // Some hosts leave sys without prefix/exec_prefix (Natron deletes them when
    // PYTHONHOME is unset); site, sysconfig and scipy need them.
    py::module_ sys = py::module_::import("sys");
    if (!py::hasattr(sys, "prefix")) sys.attr("prefix") = py::getattr(sys, "base_prefix", py::str(""));
    if (!py::hasattr(sys, "exec_prefix"))
      sys.attr("exec_prefix") = py::getattr(sys, "base_exec_prefix", sys.attr("prefix"));
  } catch (py::error_already_set& e) {
    return "the host's Python is unusable: " + short_error(e);
  }
  try {
    py::module_::import("ofx_dipmatte.ofx.bridge");
    return same_release();
  } catch (py::error_already_set& e) {
    std::string ignored;
    if (record_path == nullptr || !dip::read_env_record(record_path, record, ignored) ||
        record.list("sitedir").empty())
      return "could not import ofx_dipmatte: " + short_error(e) +
             " (is ofx_dipmatte installed in the recorded environment? run `ofx-dipmatte doctor`)";
  }
  try {
    py::module_ site = py::module_::import("site");
    for (const auto& dir : record.list("sitedir")) site.attr("addsitedir")(dir);
    py::module_::import("ofx_dipmatte.ofx.bridge");
    return same_release();
  } catch (py::error_already_set& e) {
    return "could not import ofx_dipmatte into the host's Python: " + short_error(e) +
           " (run `ofx-dipmatte doctor`)";
  }
}

py::array wrap(const DipImage& image) {
  py::dtype dtype(image.dtype);
  std::vector<py::ssize_t> shape{image.height, image.width, image.channels};
  // No copy: the bridge copies what it keeps; the buffer lives through the call.
  return py::array(dtype, shape, image.data, py::none());
}

int classify(py::error_already_set& e, char* error, size_t size) {
  try {
    py::module_ bridge = py::module_::import("ofx_dipmatte.ofx.bridge");
    py::tuple described = bridge.attr("describe_error")(e.value());
    set_error(error, size, described[1].cast<std::string>());
    std::string kind = described[0].cast<std::string>();
    if (kind == "cancelled") return DIP_CANCELLED;
    if (kind == "memory") return DIP_OUT_OF_MEMORY;
    if (kind == "input") return DIP_BAD_INPUT;
  } catch (...) {
    set_error(error, size, "ofx_dipmatte: " + short_error(e));
  }
  return DIP_FAILED;
}

}  // namespace

DIP_EXPORT int dip_start(const DipEnvironment* env, char* error, size_t error_size) {
  std::lock_guard<std::mutex> lock(g_start_mutex);
  if (g_started) return DIP_OK;
  if (!g_start_error.empty()) {  // never try twice in one process: a half-started Python is not restartable
    set_error(error, error_size, g_start_error);
    return DIP_FAILED;
  }
  std::string problem;
  if (Py_IsInitialized()) {
    std::string running = Py_GetVersion();
    if (running.rfind(compiled_version() + ".", 0) != 0)
      problem = "this process already runs Python " + running.substr(0, running.find(' ')) +
                " but the plugin was built for Python " + compiled_version() +
                ": a second Python cannot be loaded into the same host";
    else  // the host's own Python: its signals are its business
      problem = import_bridge(env ? env->config_path : nullptr);
  } else if (env == nullptr || env->config_path == nullptr) {
    problem = "no Python environment is recorded: run `ofx-dipmatte install-plugin`";
  } else {
    const HostSignals host_signals;
    problem = start_interpreter(env->config_path);
    if (problem.empty()) problem = import_bridge();
    host_signals.restore();
  }
  if (!problem.empty()) {
    g_start_error = problem;
    set_error(error, error_size, problem);
    return DIP_FAILED;
  }
  g_started = true;
  return DIP_OK;
}

DIP_EXPORT void* dip_session_create(char* error, size_t error_size) {
  py::gil_scoped_acquire gil;
  try {
    py::object session = py::module_::import("ofx_dipmatte.ofx.bridge").attr("InstanceSession")();
    return new py::object(std::move(session));
  } catch (py::error_already_set& e) {
    set_error(error, error_size, "ofx_dipmatte: could not create a session: " + short_error(e));
  } catch (std::exception& e) {
    set_error(error, error_size, std::string("ofx_dipmatte: could not create a session: ") + e.what());
  }
  return nullptr;
}

DIP_EXPORT void dip_session_destroy(void* session) {
  if (session == nullptr) return;
  py::gil_scoped_acquire gil;
  delete static_cast<py::object*>(session);
}

DIP_EXPORT void dip_session_purge(void* session) {
  if (session == nullptr) return;
  try {
    py::gil_scoped_acquire gil;
    static_cast<py::object*>(session)->attr("purge")();
  } catch (...) {
    // Purging is advisory: a failure leaves the cache as it was.
  }
}

DIP_EXPORT int dip_render(void* session, const DipRenderRequest* request, char* error, size_t error_size) {
  if (session == nullptr || request == nullptr) {
    set_error(error, error_size, "ofx_dipmatte: no session (the plugin instance failed to start)");
    return DIP_FAILED;
  }
  py::gil_scoped_acquire gil;  // held in the handlers too: they touch Python objects
  try {
    const DipParams& p = request->params;
    py::dict params;
    params["preset"] = p.preset;
    params["max_iterations"] = p.max_iterations;
    params["loss_threshold"] = p.loss_threshold;
    params["seed"] = p.seed;
    params["device"] = p.device;
    params["trimap_source"] = p.trimap_source;
    params["band"] = p.band;
    params["render_scale"] = p.render_scale;
    params["output_mode"] = p.output_mode;
    params["source_premultiplied"] = p.source_premultiplied != 0;
    params["independent_frames"] = p.independent_frames != 0;
    params["keep_smooth_mattes"] = p.keep_smooth_mattes != 0;
    params["show_only"] = p.show_only != 0;

    py::object guide = py::none(), clean_plate = py::none();
    if (request->guide.data != nullptr) guide = wrap(request->guide);
    if (request->clean_plate.data != nullptr) clean_plate = wrap(request->clean_plate);
    py::cpp_function progress([request](double fraction) {
      if (request->progress == nullptr) return true;
      py::gil_scoped_release release;  // the host's suites may block; never hold the GIL there
      return request->progress(request->progress_context, fraction) == 0;
    });
    py::object result = static_cast<py::object*>(session)->attr("render")(
        request->time, wrap(request->source), guide, params, progress,
        request->output.width, request->output.height, request->output.channels, request->output.dtype,
        py::arg("clean_plate") = clean_plate);
    if (p.show_only) return DIP_OK;  // nothing comes back
    py::array out = result;

    const DipImage& o = request->output;
    py::dtype want(o.dtype);
    if (!out.dtype().is(want) || out.ndim() != 3 || out.shape(0) != o.height || out.shape(1) != o.width ||
        out.shape(2) != o.channels || !(out.flags() & py::array::c_style)) {
      set_error(error, error_size, "ofx_dipmatte: the engine returned an image of the wrong layout (a bug)");
      return DIP_FAILED;
    }
    std::memcpy(o.data, out.data(), static_cast<size_t>(out.nbytes()));
    set_error(error, error_size, py::str(static_cast<py::object*>(session)->attr("warning")));
    return DIP_OK;
  } catch (py::error_already_set& e) {
    return classify(e, error, error_size);
  } catch (std::bad_alloc&) {
    set_error(error, error_size, "ofx_dipmatte: out of memory");
    return DIP_OUT_OF_MEMORY;
  } catch (std::exception& e) {
    set_error(error, error_size, std::string("ofx_dipmatte: ") + e.what());
  } catch (...) {
    set_error(error, error_size, "ofx_dipmatte: unknown error in the Python runtime");
  }
  return DIP_FAILED;
}
