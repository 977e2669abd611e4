// Finding and loading the Python runtime from inside a host process.
#pragma once

#include <string>

#include "engine_abi.h"

namespace dip {

struct Runtime {
  DipSessionCreateFn session_create = nullptr;
  DipSessionDestroyFn session_destroy = nullptr;
  DipSessionPurgeFn session_purge = nullptr;
  DipRenderFn render = nullptr;
};

// Loads libpython (RTLD_GLOBAL) and our Python runtime library, and starts or adopts
// the interpreter. Done once per process; later calls return the first outcome.
// Returns nullptr and the reason in `error` when Python cannot be used.
const Runtime* load_python_runtime(std::string& error);

// The environment record in use: $OFX_DIPMATTE_ENV, else the bundle's
// Contents/Resources/python_env.cfg; empty when there is none.
std::string environment_record_path();

// The directory holding this plugin binary (…/Contents/Linux-x86-64).
std::string binary_dir();

}  // namespace dip
