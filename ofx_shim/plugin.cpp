// The OFX plugin: describe, instance lifecycle and render. Host buffers in, packed
// buffers to the Python engine — in the host process (python_loader / python_runtime)
// or in a worker process (worker_client) — host buffers out.
// Nothing may escape to the host: every action is wrapped, every failure becomes a
// failed status plus a message that says what to do.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "host_image.h"
#include "host_suites.h"
#include "ofx/ofx_names.h"
#include "ofx/ofx_suites.h"
#include "params.h"
#include "python_loader.h"
#include "worker_client.h"

#define OFX_EXPORT extern "C" __attribute__((visibility("default")))

using namespace dip;  // this file is the plugin's top: it uses every part of it

namespace {

constexpr const char* kPluginIdentifier = "com.ofxdipmatte.DIPMatte";

OfxHost* g_host = nullptr;

struct Instance {
  OfxImageEffectHandle handle = nullptr;
  bool general = true;
  const Runtime* runtime = nullptr;  // the engine that `session` belongs to
  void* session = nullptr;           // its session (the Python InstanceSession, here or in the worker)
  std::mutex render_mutex;           // one render at a time, taken before the GIL (never while holding it)
  std::mutex message_mutex;
  std::string persistent;            // the persistent message shown now, to avoid repeating it
};

// ---------------------------------------------------------------------------------
// Messages and progress (every suite is optional and null-checked: hosts vary)

// The text is passed as the format itself (with % doubled), not as a "%s" argument:
// some hosts (Natron) drop the arguments and would show a blank message.
std::string as_format(const std::string& text) {
  std::string format;
  for (char c : text) format += c == '%' ? std::string("%%") : std::string(1, c);
  return format;
}

void post_message(Instance* inst, const char* type, const std::string& text) {
  void* handle = inst ? static_cast<void*>(inst->handle) : nullptr;
  if (g_message1 && g_message1->message) g_message1->message(handle, type, "ofx_dipmatte", as_format(text).c_str());
}

// A message on the instance until cleared: an error (the render failed) or a warning (it
// succeeded, but the artist should know something about the matte). A host without
// persistent messages gets errors as plain messages; warnings are not posted there, as a
// plain message is a dialog in some hosts, and a render comes every frame.
void set_persistent(Instance* inst, const std::string& text, const char* type = kOfxMessageError) {
  std::lock_guard<std::mutex> lock(inst->message_mutex);
  const std::string shown = std::string(type) + "\n" + text;
  if (inst->persistent == shown) return;  // some hosts append a line per call
  if (g_message2 && g_message2->setPersistentMessage) {
    inst->persistent = shown;
    g_message2->setPersistentMessage(inst->handle, type, "ofx_dipmatte", as_format(text).c_str());
  } else if (std::strcmp(type, kOfxMessageError) == 0) {
    inst->persistent = shown;
    post_message(inst, type, text);
  }
}

void clear_persistent(Instance* inst) {
  std::lock_guard<std::mutex> lock(inst->message_mutex);
  if (inst->persistent.empty()) return;
  inst->persistent.clear();
  if (g_message2 && g_message2->clearPersistentMessage) g_message2->clearPersistentMessage(inst->handle);
}

struct Progress {
  Instance* inst;
  bool started = false;
  double base = 0.0, span = 1.0;  // the engine's fraction maps onto [base, base + span]

  explicit Progress(Instance* i) : inst(i) {
    if (g_progress2 && g_progress2->progressStart)
      started = g_progress2->progressStart(inst->handle, "DIP matte", "ofx_dipmatte.solve") == kOfxStatOK;
    else if (g_progress1 && g_progress1->progressStart)
      started = g_progress1->progressStart(inst->handle, "DIP matte") == kOfxStatOK;
  }
  ~Progress() {
    if (!started) return;
    if (g_progress2 && g_progress2->progressEnd) g_progress2->progressEnd(inst->handle);
    else if (g_progress1 && g_progress1->progressEnd) g_progress1->progressEnd(inst->handle);
  }
  // Returns nonzero when the host wants the render stopped.
  static int update(void* context, double fraction) {
    auto* self = static_cast<Progress*>(context);
    if (g_effect->abort && g_effect->abort(self->inst->handle)) return 1;
    if (!self->started) return 0;
    OfxStatus status = kOfxStatOK;
    const double shown = self->base + self->span * fraction;
    if (g_progress2 && g_progress2->progressUpdate) status = g_progress2->progressUpdate(self->inst->handle, shown);
    else if (g_progress1 && g_progress1->progressUpdate) status = g_progress1->progressUpdate(self->inst->handle, shown);
    return status == kOfxStatReplyNo ? 1 : 0;
  }
};

// Share of a render's progress bar given to reading the Background frames (they cost
// seconds a frame at 4K: the bar must move), the rest to the solve.
constexpr double kShowingShare = 0.2;

// ---------------------------------------------------------------------------------
// Instances

Instance* instance_of(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  void* data = nullptr;
  if (g_effect->getPropertySet(effect, &props) != kOfxStatOK ||
      g_props->propGetPointer(props, kOfxPropInstanceData, 0, &data) != kOfxStatOK)
    return nullptr;
  return static_cast<Instance*>(data);
}

OfxStatus create_instance(OfxImageEffectHandle effect) {
  auto inst = std::make_unique<Instance>();
  inst->handle = effect;
  OfxPropertySetHandle props = nullptr;
  g_effect->getPropertySet(effect, &props);
  char* context = nullptr;
  g_props->propGetString(props, kOfxImageEffectPropContext, 0, &context);
  inst->general = context && std::strcmp(context, kOfxImageEffectContextGeneral) == 0;
  g_props->propSetPointer(props, kOfxPropInstanceData, 0, inst.release());
  return kOfxStatOK;  // the engine starts on the first render: describing and scanning stay fast
}

OfxStatus destroy_instance(OfxImageEffectHandle effect) {
  Instance* inst = instance_of(effect);
  if (!inst) return kOfxStatOK;
  {
    std::lock_guard<std::mutex> lock(inst->render_mutex);  // a render may still be finishing
    if (inst->session) inst->runtime->session_destroy(inst->session);
  }
  OfxPropertySetHandle props = nullptr;
  g_effect->getPropertySet(effect, &props);
  g_props->propSetPointer(props, kOfxPropInstanceData, 0, nullptr);
  delete inst;
  return kOfxStatOK;
}

OfxStatus clip_preferences(OfxImageEffectHandle effect, OfxPropertySetHandle out_args) {
  const std::string mode = output_mode(effect, 0.0);
  const char* premult = mode == "straight" ? kOfxImageUnPreMultiplied
                        : (mode == "background" || mode == "trimap") ? kOfxImageOpaque
                                                                     : kOfxImagePreMultiplied;
  g_props->propSetString(out_args, kOfxImageEffectPropPreMultiplication, 0, premult);
  Instance* inst = instance_of(effect);
  if (inst && inst->general)  // the filter context's Output follows its Source
    g_props->propSetString(out_args, "OfxImageClipPropComponents_Output", 0, kOfxImageComponentRGBA);
  return kOfxStatOK;
}

// ---------------------------------------------------------------------------------
// Render

// An image fetched from a clip, released when it goes out of scope.
struct FetchedImage {
  OfxPropertySetHandle handle = nullptr;
  ~FetchedImage() {
    if (handle) g_effect->clipReleaseImage(handle);
  }
};

struct RenderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------
// Engines: in the host process (python_loader) or in a worker process (worker_client)

constexpr const char* kEngineVariable = "OFX_DIPMATTE_ENGINE";  // farms: overrides the Engine parameter
std::string g_in_process_problem;  // why Automatic fell back to the worker (for messages)

// The engine for a render: $OFX_DIPMATTE_ENGINE, else the Engine parameter. Automatic
// runs in the host process when Python can start there, else in a worker.
const Runtime* choose_engine(const std::string& parameter) {
  std::string wanted = parameter;
  if (const char* env = std::getenv(kEngineVariable); env && *env) {
    wanted = env;
    if (wanted != "auto" && wanted != "in_process" && wanted != "worker")
      throw RenderError(std::string(kEngineVariable) + "=" + wanted +
                        " is not one of auto, in_process, worker; fix or unset it");
  }
  if (wanted == "worker") return worker_runtime();
  std::string problem;
  const Runtime* in_process = load_python_runtime(problem);
  if (in_process) return in_process;
  if (wanted == "in_process")
    throw RenderError("the Engine is set to 'In host process', but Python cannot run inside this host: " +
                      problem + " Choose 'Automatic' or 'Separate process'.");
  g_in_process_problem = problem;
  return worker_runtime();
}

// The instance's session on `runtime`, made on first use (or when the engine changes).
void* session_for(Instance* inst, const Runtime* runtime) {
  if (inst->runtime != runtime || !inst->session) {
    if (inst->session) inst->runtime->session_destroy(inst->session);
    inst->session = nullptr;
    inst->runtime = runtime;
    char error[2048] = {0};
    inst->session = runtime->session_create(error, sizeof error);
    if (!inst->session) throw RenderError(error);
  }
  return inst->session;
}

OfxImageClipHandle clip_handle(OfxImageEffectHandle effect, const char* name) {
  OfxImageClipHandle clip = nullptr;
  if (g_effect->clipGetHandle(effect, name, &clip, nullptr) != kOfxStatOK) return nullptr;
  return clip;
}

bool clip_connected(OfxImageClipHandle clip) {
  OfxPropertySetHandle props = nullptr;
  int connected = 0;
  if (!clip || g_effect->clipGetPropertySet(clip, &props) != kOfxStatOK) return false;
  g_props->propGetInt(props, kOfxImageClipPropConnected, 0, &connected);
  return connected != 0;
}

// False, with why in `error` ("" when the host gave no image), when there is no usable image.
bool try_fetch_image(OfxImageClipHandle clip, OfxTime time, FetchedImage& holder, HostImage& image,
                     std::string& error) {
  if (g_effect->clipGetImage(clip, time, nullptr, &holder.handle) != kOfxStatOK || holder.handle == nullptr)
    return false;
  return read_host_image(g_props, holder.handle, image, error);
}

HostImage fetch_image(OfxImageClipHandle clip, OfxTime time, FetchedImage& holder, const char* what) {
  HostImage image;
  std::string error;
  if (!try_fetch_image(clip, time, holder, image, error)) {
    if (error.empty())
      throw RenderError(std::string("the host gave no ") + what + " image at frame " + std::to_string(time));
    throw RenderError(std::string(what) + ": " + error);
  }
  return image;
}

DipImage packed_view(std::vector<unsigned char>& buffer, const HostImage& like, const OfxRectI& region) {
  DipImage view{};
  view.width = region.x2 - region.x1;
  view.height = region.y2 - region.y1;
  view.channels = like.channels;
  view.dtype = like.dtype;
  buffer.resize(static_cast<size_t>(view.width) * view.height * like.pixel_bytes());
  view.data = buffer.data();
  return view;
}

// ---------------------------------------------------------------------------------
// Background frames: frames near the rendered one whose known background the engine is
// shown before the solve (hosts with temporal clip access only).

// How many frames on each side to show at `time` (0: none).
int background_frames(OfxImageEffectHandle effect, OfxTime time) {
  if (!g_host_temporal || int_at(effect, kParamIndependentFrames, time) ||
      std::strcmp(output_mode(effect, time), "trimap") == 0 ||
      !preset_carries_background(choice_at(effect, kParamPreset, time, kPresets)))
    return 0;
  return int_at(effect, kParamBackgroundFrames, time);
}

// [first, last] frames to show around `time`: within the Source's frame range when the
// host says it (beyond it a host may hold the first or last frame, or give none).
OfxRangeD background_range(OfxImageEffectHandle effect, OfxTime time, int frames) {
  OfxRangeD range{time - frames, time + frames};
  OfxPropertySetHandle props = nullptr;
  double clip_range[2] = {0.0, 0.0};
  OfxImageClipHandle source = clip_handle(effect, kOfxImageEffectSimpleSourceClipName);
  if (source && g_effect->clipGetPropertySet(source, &props) == kOfxStatOK &&
      g_props->propGetDoubleN(props, kOfxImageEffectPropFrameRange, 2, clip_range) == kOfxStatOK &&
      clip_range[0] <= clip_range[1]) {
    range.min = std::max(range.min, clip_range[0]);
    range.max = std::min(range.max, clip_range[1]);
  }
  return range;
}

// kOfxImageEffectActionGetFramesNeeded: the Source (and Trimap) at the background frames.
OfxStatus frames_needed(OfxImageEffectHandle effect, OfxPropertySetHandle in_args, OfxPropertySetHandle out_args) {
  Instance* inst = instance_of(effect);
  if (!inst) return kOfxStatErrBadHandle;
  OfxTime time = 0;
  g_props->propGetDouble(in_args, kOfxPropTime, 0, &time);
  const int frames = background_frames(effect, time);
  if (frames == 0) return kOfxStatReplyDefault;  // only this frame
  OfxRangeD range = background_range(effect, time, frames);
  range.min = std::min(range.min, time);  // this frame, even outside a range the host misreports
  range.max = std::max(range.max, time);
  for (const char* clip : {kOfxImageEffectSimpleSourceClipName, kTrimapClip}) {
    if (std::strcmp(clip, kTrimapClip) == 0 && !inst->general) continue;  // the filter context has no Trimap
    const std::string name = std::string("OfxImageClipPropFrameRange_") + clip;
    g_props->propSetDouble(out_args, name.c_str(), 0, range.min);
    g_props->propSetDouble(out_args, name.c_str(), 1, range.max);
  }
  return kOfxStatOK;
}

// Shows the session the background frames around `time`, nearest first: each one's
// Source (and Trimap) packed like the rendered frame's and sent with show_only. A frame
// the host cannot give, whose Source does not cover `frame`, or that the engine refuses as input
// is skipped: it would only have helped. An engine that fails ends the showing (the
// render then says why, once). False when the host aborted.
bool show_background_frames(Instance* inst, const Runtime* runtime, void* session, OfxTime time,
                            DipParams params, const OfxRectI& frame, OfxImageClipHandle trimap_clip,
                            Progress& progress) {
  OfxImageEffectHandle effect = inst->handle;
  const int frames = background_frames(effect, time);
  if (frames == 0) return true;
  const OfxRangeD range = background_range(effect, time, frames);
  std::vector<OfxTime> times;  // nearest first
  for (int step = 1; step <= frames; ++step)
    for (OfxTime shown : {time - step, time + step})
      if (shown >= range.min && shown <= range.max) times.push_back(shown);
  if (times.empty()) return true;
  OfxImageClipHandle source_clip = clip_handle(effect, kOfxImageEffectSimpleSourceClipName);
  params.show_only = 1;
  progress.span = kShowingShare;
  for (size_t done = 0; done < times.size(); ++done) {
    const OfxTime shown = times[done];
    if (Progress::update(&progress, double(done) / times.size())) return false;  // the host aborted
    FetchedImage source_holder, trimap_holder;
    HostImage source, trimap;
    std::string ignored;
    if (!try_fetch_image(source_clip, shown, source_holder, source, ignored) || !contains(source.bounds, frame))
      continue;
    if (trimap_clip && !try_fetch_image(trimap_clip, shown, trimap_holder, trimap, ignored)) continue;
    std::vector<unsigned char> source_pixels, guide_pixels;
    DipRenderRequest request{};
    request.time = shown;
    request.params = params;
    request.source = packed_view(source_pixels, source, frame);
    pack_region(source, frame, source_pixels.data());
    if (trimap_clip) {
      request.guide = packed_view(guide_pixels, trimap, frame);
      pack_region(trimap, frame, guide_pixels.data());
    }
    char error[1024] = {0};
    const int status = runtime->render(session, &request, error, sizeof error);
    if (status == DIP_CANCELLED) return false;
    if (status == DIP_OUT_OF_MEMORY)
      throw RenderError(std::string(error) + " (while reading the frames around this one: lower Background frames)");
    if (status == DIP_FAILED) break;  // not this frame's fault: showing more would fail as well
  }
  progress.base = kShowingShare;  // the solve fills the rest of the bar
  progress.span = 1.0 - kShowingShare;
  return true;
}

OfxStatus render(Instance* inst, OfxPropertySetHandle in_args) {
  OfxImageEffectHandle effect = inst->handle;
  OfxTime time = 0;
  double scale[2] = {1.0, 1.0};
  int window_values[4] = {0, 0, 0, 0};
  g_props->propGetDouble(in_args, kOfxPropTime, 0, &time);
  g_props->propGetDoubleN(in_args, kOfxImageEffectPropRenderScale, 2, scale);
  if (g_props->propGetIntN(in_args, kOfxImageEffectPropRenderWindow, 4, window_values) != kOfxStatOK)
    throw RenderError("the host gave no render window");
  const OfxRectI window{window_values[0], window_values[1], window_values[2], window_values[3]};
  if (!(scale[0] > 0.0) || !(scale[0] <= 1e3)) throw RenderError("the host gave an invalid render scale");
  const Runtime* runtime = choose_engine(choice_at(effect, kParamEngine, time, kEngines));
  void* session = session_for(inst, runtime);

  // Parameters, always at the render's time.
  DipParams params{};
  params.output_mode = output_mode(effect, time);
  params.preset = choice_at(effect, kParamPreset, time, kPresets);
  params.device = choice_at(effect, kParamDevice, time, kDevices);
  params.max_iterations = int_at(effect, kParamMaxIterations, time);
  params.loss_threshold = double_at(effect, kParamLossThreshold, time);
  params.seed = int_at(effect, kParamSeed, time);
  params.independent_frames = int_at(effect, kParamIndependentFrames, time);
  params.keep_smooth_mattes = int_at(effect, kParamKeepSmoothMattes, time);
  params.band = double_at(effect, kParamBandWidth, time);
  params.render_scale = scale[0];
  params.trimap_source =
      choice_at(effect, kParamTrimapSource, time, inst->general ? kTrimapSourcesGeneral : kTrimapSourcesFilter);
  const bool use_trimap_clip = std::strcmp(params.trimap_source, "trimap") == 0;
  if (use_trimap_clip && !int_at(effect, kParamUseTrimapInput, time)) params.trimap_source = "source_alpha";

  FetchedImage source_holder, trimap_holder, plate_holder, output_holder;
  HostImage source = fetch_image(clip_handle(effect, kOfxImageEffectSimpleSourceClipName), time,
                                      source_holder, "Source");
  HostImage output = fetch_image(clip_handle(effect, kOfxImageEffectOutputClipName), time, output_holder,
                                      "Output");
  if (output.channels == 1) throw RenderError("Output: an Alpha-only output is not supported; use RGBA or RGB");
  const OfxRectI frame = source.bounds;  // the whole Source is solved (tiles are off)
  char* premultiplication = nullptr;
  g_props->propGetString(source_holder.handle, kOfxImageEffectPropPreMultiplication, 0, &premultiplication);
  params.source_premultiplied =
      premultiplication && std::strcmp(premultiplication, kOfxImagePreMultiplied) == 0 ? 1 : 0;

  std::vector<unsigned char> source_pixels, guide_pixels, plate_pixels, output_pixels;
  DipRenderRequest request{};
  request.time = time;
  request.params = params;
  request.source = packed_view(source_pixels, source, frame);
  pack_region(source, frame, source_pixels.data());
  request.guide.data = nullptr;
  OfxImageClipHandle trimap_clip = nullptr;  // the Trimap input, when the trimap comes from it
  if (std::strcmp(params.trimap_source, "trimap") == 0) {
    trimap_clip = clip_handle(effect, kTrimapClip);
    if (!clip_connected(trimap_clip)) trimap_clip = nullptr;
    if (trimap_clip) {
      // A trimap smaller than the Source (a Roto node's bounds are its shapes') is
      // background outside its bounds, as OFX has every image black outside them.
      HostImage trimap = fetch_image(trimap_clip, time, trimap_holder, "Trimap");
      request.guide = packed_view(guide_pixels, trimap, frame);
      pack_region(trimap, frame, guide_pixels.data());
    }
  }
  request.clean_plate.data = nullptr;
  if (inst->general) {
    OfxImageClipHandle plate_clip = clip_handle(effect, kCleanPlateClip);
    if (clip_connected(plate_clip)) {
      HostImage plate = fetch_image(plate_clip, time, plate_holder, "CleanPlate");
      if (plate.channels < 3) throw RenderError("CleanPlate: give it RGB or RGBA, like the Source");
      // Smaller than the Source: outside its bounds it is black with alpha 0, which says
      // "no background here" — only an alpha that holds something says so (an RGB plate, or
      // one with an empty alpha, counts as covering everything: black would be taken as B).
      if (!contains(plate.bounds, frame) && !alpha_holds_anything(plate))
        throw RenderError("CleanPlate: the clean plate does not cover the Source frame and has no alpha to say "
                          "where it holds; give it the Source's format, or alpha 1 where it shows the background");
      request.clean_plate = packed_view(plate_pixels, plate, frame);
      pack_region(plate, frame, plate_pixels.data());
    }
  }
  request.output = packed_view(output_pixels, output, frame);

  Progress progress(inst);
  if (!show_background_frames(inst, runtime, session, time, params, frame, trimap_clip, progress))
    return kOfxStatFailed;  // the host aborted
  request.progress = &Progress::update;
  request.progress_context = &progress;
  char error[4096] = {0};
  const int status = runtime->render(session, &request, error, sizeof error);
  if (status == DIP_CANCELLED) return kOfxStatFailed;  // the host aborted: no half-solved matte, no error
  if (status == DIP_OUT_OF_MEMORY) {
    set_persistent(inst, error);
    return kOfxStatErrMemory;
  }
  if (status != DIP_OK) {
    std::string text = error;
    if (runtime == worker_runtime() && !g_in_process_problem.empty())
      text += " (the engine runs in a separate process because it cannot run in this host: " +
              g_in_process_problem + ")";
    throw RenderError(text);
  }
  unpack_region(output_pixels.data(), frame, window, output);
  if (error[0] != '\0')  // on success the runtime leaves the engine's warnings there
    set_persistent(inst, std::string("ofx_dipmatte: ") + error, kOfxMessageWarning);
  else
    clear_persistent(inst);
  return kOfxStatOK;
}

OfxStatus render_action(OfxImageEffectHandle effect, OfxPropertySetHandle in_args) {
  Instance* inst = instance_of(effect);
  if (!inst) return kOfxStatErrBadHandle;
  std::lock_guard<std::mutex> lock(inst->render_mutex);
  try {
    return render(inst, in_args);
  } catch (std::bad_alloc&) {
    set_persistent(inst, "ofx_dipmatte: out of memory while rendering");
    return kOfxStatErrMemory;
  } catch (std::exception& e) {
    const std::string text = e.what();
    set_persistent(inst, text.rfind("ofx_dipmatte: ", 0) == 0 ? text : "ofx_dipmatte: " + text);
    return kOfxStatFailed;
  }
}

// ---------------------------------------------------------------------------------
// Entry points

OfxStatus load() {
  // Python starts on the first render (in the host or in a worker, whichever the Engine
  // says): a broken environment must not stop the plugin loading, and scans stay fast.
  return fetch_suites(g_host) ? kOfxStatOK : kOfxStatErrMissingHostFeature;
}

OfxStatus main_entry(const char* action, const void* handle, OfxPropertySetHandle in_args,
                     OfxPropertySetHandle out_args) {
  try {
    if (!action) return kOfxStatErrUnknown;
    auto effect = static_cast<OfxImageEffectHandle>(const_cast<void*>(handle));
    if (std::strcmp(action, kOfxActionLoad) == 0) return load();
    if (!g_props || !g_effect || !g_params) return kOfxStatErrMissingHostFeature;
    if (std::strcmp(action, kOfxActionUnload) == 0) return kOfxStatOK;  // Python is never finalised
    if (std::strcmp(action, kOfxActionDescribe) == 0) return describe(effect);
    if (std::strcmp(action, kOfxImageEffectActionDescribeInContext) == 0) return describe_in_context(effect, in_args);
    if (std::strcmp(action, kOfxActionCreateInstance) == 0) return create_instance(effect);
    if (std::strcmp(action, kOfxActionDestroyInstance) == 0) return destroy_instance(effect);
    if (std::strcmp(action, kOfxImageEffectActionRender) == 0) return render_action(effect, in_args);
    if (std::strcmp(action, kOfxImageEffectActionGetClipPreferences) == 0) return clip_preferences(effect, out_args);
    if (std::strcmp(action, kOfxImageEffectActionGetFramesNeeded) == 0) return frames_needed(effect, in_args, out_args);
    if (std::strcmp(action, kOfxActionPurgeCaches) == 0) {
      Instance* inst = instance_of(effect);
      if (inst) {
        std::lock_guard<std::mutex> lock(inst->render_mutex);
        if (inst->session) inst->runtime->session_purge(inst->session);
      }
      return kOfxStatOK;
    }
    return kOfxStatReplyDefault;
  } catch (std::bad_alloc&) {
    return kOfxStatErrMemory;
  } catch (std::exception& e) {
    post_message(nullptr, kOfxMessageError, std::string("ofx_dipmatte: ") + e.what());
    return kOfxStatFailed;
  } catch (...) {
    return kOfxStatFailed;
  }
}

void set_host(OfxHost* host) { g_host = host; }

OfxPlugin g_plugin = {kOfxImageEffectPluginApi, kOfxImageEffectPluginApiVersion, kPluginIdentifier,
                      DIP_VERSION_MAJOR,        DIP_VERSION_MINOR,               set_host,
                      main_entry};

}  // namespace

OFX_EXPORT OfxStatus OfxSetHost(const OfxHost* host) {
  g_host = const_cast<OfxHost*>(host);
  return kOfxStatOK;
}

OFX_EXPORT int OfxGetNumberOfPlugins(void) { return 1; }

OFX_EXPORT OfxPlugin* OfxGetPlugin(int nth) { return nth == 0 ? &g_plugin : nullptr; }
