// The engine in a separate process: `python -I -m ofx_dipmatte.worker`, started from the
// recorded environment's interpreter with a clean environment, one per host process,
// serving every instance. Frames cross in shared memory (a memfd per render); requests,
// progress and replies cross a socket (the protocol is documented in
// python/ofx_dipmatte/worker.py). A worker that dies or stops responding fails the
// current render; the next render starts a new one. The worker exits when the host
// process does (it sees its socket close).
#pragma once

#include "python_loader.h"

namespace dip {

// The worker engine behind the same interface as the in-process runtime. Starting the
// process waits for the first render; problems are reported then.
const Runtime* worker_runtime();

// Environment variables: OFX_DIPMATTE_WORKER_TIMEOUT (seconds without a word from the
// worker before it is declared hung and stopped; default 300).
constexpr const char* kWorkerTimeoutVariable = "OFX_DIPMATTE_WORKER_TIMEOUT";

}  // namespace dip
