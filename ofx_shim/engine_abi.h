// The C interface between the plugin binary (.ofx, which never links Python) and the
// Python runtime library (which does, through pybind11). The plugin dlopens the
// runtime only after libpython is loaded RTLD_GLOBAL, so a missing or broken Python
// environment leaves the .ofx loadable and describable.
#pragma once

#include <cstddef>

extern "C" {

// Packed, top-down (row 0 is the top row) pixels with no row padding.
struct DipImage {
  void* data;          // NULL when absent
  int width;
  int height;
  int channels;        // 1, 3 or 4
  const char* dtype;   // "uint8", "uint16" or "float32"
};

struct DipParams {
  const char* preset;         // "draft", "balanced", "paper"
  int max_iterations;         // 0: the preset's cap
  double loss_threshold;      // 0: the preset's rule
  int seed;
  const char* device;         // "auto", "cpu", "cuda"
  const char* trimap_source;  // "trimap" (clip), "source_alpha", "source_alpha_rough"
  double band;                // rough matte band width, pixels at full resolution
  double render_scale;        // scales the band width
  const char* output_mode;    // "premultiplied", "straight", "alpha", "background", "trimap"
  int source_premultiplied;   // the host says the Source's colour is premultiplied by its alpha
  int independent_frames;     // solve every frame on its own (no background carried)
  int keep_smooth_mattes;     // keep the closed-form matte where it is smooth (Preset.keep_smooth_mattes)
  int show_only;              // only show the session this frame's known background (a frame near
                              // the one rendered next); nothing is solved and output is not written
};

// Return codes of dip_render. DIP_BAD_INPUT: the frame or the parameters cannot be
// solved (the message says what to change); DIP_FAILED: the engine itself failed.
// With DIP_OK the message buffer holds the engine's warnings about the matte (e.g. a
// trimap with no known background), or is empty.
enum { DIP_OK = 0, DIP_FAILED = 1, DIP_CANCELLED = 2, DIP_OUT_OF_MEMORY = 3, DIP_BAD_INPUT = 4 };

// Called during the solve; returns nonzero to stop it (host abort).
typedef int (*DipProgressFn)(void* context, double fraction);

struct DipRenderRequest {
  double time;
  DipImage source;   // RGB or RGBA
  DipImage guide;    // the Trimap clip (first channel used), or data == NULL
  DipImage clean_plate;  // the CleanPlate clip (RGB or RGBA), or data == NULL
  DipImage output;   // filled by dip_render; same width and height as source
  DipParams params;
  DipProgressFn progress;
  void* progress_context;
};

// What the plugin found out about the environment to start (see python_env.cfg).
struct DipEnvironment {
  const char* config_path;  // the record file, or NULL when adopting a running interpreter
};

typedef int (*DipStartFn)(const DipEnvironment* env, char* error, size_t error_size);
typedef void* (*DipSessionCreateFn)(char* error, size_t error_size);
typedef void (*DipSessionDestroyFn)(void* session);
typedef void (*DipSessionPurgeFn)(void* session);
typedef int (*DipRenderFn)(void* session, const DipRenderRequest* request, char* error, size_t error_size);

}  // extern "C"
