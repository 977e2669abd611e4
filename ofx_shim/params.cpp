#include "params.h"

#include <cstring>
#include <stdexcept>

#include "host_suites.h"
#include "ofx/ofx_names.h"

namespace dip {

namespace {

OfxPropertySetHandle define_param(OfxParamSetHandle params, const char* type, const char* name, const char* label,
                                  const char* hint) {
  OfxPropertySetHandle p = nullptr;
  if (g_params->paramDefine(params, type, name, &p) != kOfxStatOK || p == nullptr)
    throw std::runtime_error(std::string("the host refused the parameter ") + name);
  g_props->propSetString(p, kOfxPropLabel, 0, label);
  g_props->propSetString(p, kOfxParamPropHint, 0, hint);
  g_props->propSetString(p, kOfxParamPropScriptName, 0, name);
  return p;
}

void define_choice(OfxParamSetHandle params, const char* name, const char* label, const char* hint,
                   const std::vector<Option>& options, int default_index) {
  OfxPropertySetHandle p = define_param(params, kOfxParamTypeChoice, name, label, hint);
  for (size_t i = 0; i < options.size(); ++i)
    g_props->propSetString(p, kOfxParamPropChoiceOption, static_cast<int>(i), options[i].label);
  g_props->propSetInt(p, kOfxParamPropDefault, 0, default_index);
  g_props->propSetInt(p, kOfxParamPropAnimates, 0, 0);
}

// Resolve clamps numeric params to (-1, 1) / (0, 0) unless both ranges are set.
void define_double(OfxParamSetHandle params, const char* name, const char* label, const char* hint, double def,
                   double lo, double hi, double display_hi) {
  OfxPropertySetHandle p = define_param(params, kOfxParamTypeDouble, name, label, hint);
  g_props->propSetDouble(p, kOfxParamPropDefault, 0, def);
  g_props->propSetDouble(p, kOfxParamPropMin, 0, lo);
  g_props->propSetDouble(p, kOfxParamPropMax, 0, hi);
  g_props->propSetDouble(p, kOfxParamPropDisplayMin, 0, lo);
  g_props->propSetDouble(p, kOfxParamPropDisplayMax, 0, display_hi);
}

void define_int(OfxParamSetHandle params, const char* name, const char* label, const char* hint, int def, int lo,
                int hi, int display_hi) {
  OfxPropertySetHandle p = define_param(params, kOfxParamTypeInteger, name, label, hint);
  g_props->propSetInt(p, kOfxParamPropDefault, 0, def);
  g_props->propSetInt(p, kOfxParamPropMin, 0, lo);
  g_props->propSetInt(p, kOfxParamPropMax, 0, hi);
  g_props->propSetInt(p, kOfxParamPropDisplayMin, 0, lo);
  g_props->propSetInt(p, kOfxParamPropDisplayMax, 0, display_hi);
  g_props->propSetInt(p, kOfxParamPropAnimates, 0, 0);
}

OfxParamHandle param(OfxImageEffectHandle effect, const char* name) {
  OfxParamSetHandle params = nullptr;
  OfxParamHandle handle = nullptr;
  g_effect->getParamSet(effect, &params);
  if (g_params->paramGetHandle(params, name, &handle, nullptr) != kOfxStatOK || handle == nullptr)
    throw std::runtime_error(std::string("the host has no parameter ") + name);
  return handle;
}

}  // namespace

OfxStatus describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  g_effect->getPropertySet(effect, &props);
  g_props->propSetString(props, kOfxPropLabel, 0, "DIP Matte");
  g_props->propSetString(props, kOfxPropShortLabel, 0, "DIPMatte");
  g_props->propSetString(props, kOfxPropLongLabel, 0, "DIP Matte (Deep Image Prior matting)");
  g_props->propSetString(props, kOfxPropPluginDescription, 0,
                         "Training-free matte extraction from a trimap: alpha, the straight foreground and the "
                         "background. Balanced (the default) refines closed-form matting with this frame's own "
                         "foreground and background colours and, on a locked-off shot, the background the "
                         "other frames show; DIP, Draft and Paper fit Deep Image Prior networks to the frame, "
                         "warm-started from the previous one.");
  g_props->propSetInt(props, kOfxPropVersion, 0, DIP_VERSION_MAJOR);
  g_props->propSetInt(props, kOfxPropVersion, 1, DIP_VERSION_MINOR);
  g_props->propSetInt(props, kOfxPropVersion, 2, DIP_VERSION_PATCH);
  g_props->propSetString(props, kOfxPropVersionLabel, 0, DIP_VERSION_LABEL);
  g_props->propSetString(props, kOfxImageEffectPluginPropGrouping, 0, "Keyer");
  g_props->propSetString(props, kOfxImageEffectPropSupportedContexts, 0, kOfxImageEffectContextGeneral);
  g_props->propSetString(props, kOfxImageEffectPropSupportedContexts, 1, kOfxImageEffectContextFilter);
  g_props->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 0, kOfxBitDepthByte);
  g_props->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 1, kOfxBitDepthShort);
  g_props->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 2, kOfxBitDepthFloat);
  g_props->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 0);  // the solve needs the whole frame
  // Inputs of other sizes are taken: the Source sets the frame (the general context's
  // default RoD is its own), a smaller Trimap is background outside its bounds (a Roto
  // node's are its shapes'; Natron refuses to connect one to a plugin without this).
  g_props->propSetInt(props, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
  g_props->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1);  // Background frames
  g_props->propSetInt(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
  g_props->propSetInt(props, kOfxImageEffectPluginPropSingleInstance, 0, 0);
  g_props->propSetInt(props, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
  // Instance-safe is the truth, but MLT answers it by creating a new instance for every
  // frame, which loses the warm start and the frame cache and solves each frame up to
  // three times: there we ask for one instance, used in order.
  g_props->propSetString(props, kOfxImageEffectPluginRenderThreadSafety, 0,
                         g_host_name == "MLT" ? kOfxImageEffectRenderUnsafe : kOfxImageEffectRenderInstanceSafe);
  g_props->propSetInt(props, kOfxImageEffectInstancePropSequentialRender, 0, 2);  // preferred, not required
  return kOfxStatOK;
}

OfxStatus describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle in_args) {
  char* context = nullptr;
  g_props->propGetString(in_args, kOfxImageEffectPropContext, 0, &context);
  const bool general = context && std::strcmp(context, kOfxImageEffectContextGeneral) == 0;
  if (!general && !(context && std::strcmp(context, kOfxImageEffectContextFilter) == 0))
    return kOfxStatErrMissingHostFeature;

  OfxPropertySetHandle clip = nullptr;
  g_effect->clipDefine(effect, kOfxImageEffectSimpleSourceClipName, &clip);
  g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  g_props->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);
  g_props->propSetInt(clip, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  if (general) {
    g_effect->clipDefine(effect, kTrimapClip, &clip);
    g_props->propSetInt(clip, kOfxImageEffectPropTemporalClipAccess, 0, 1);
    g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentAlpha);
    g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
    g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 2, kOfxImageComponentRGBA);
    g_props->propSetInt(clip, kOfxImageClipPropOptional, 0, 1);
    g_props->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);
    g_effect->clipDefine(effect, kCleanPlateClip, &clip);
    g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
    g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
    g_props->propSetInt(clip, kOfxImageClipPropOptional, 0, 1);
    g_props->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);
  }
  g_effect->clipDefine(effect, kOfxImageEffectOutputClipName, &clip);
  g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 0, kOfxImageComponentRGBA);
  g_props->propSetString(clip, kOfxImageEffectPropSupportedComponents, 1, kOfxImageComponentRGB);
  g_props->propSetInt(clip, kOfxImageEffectPropSupportsTiles, 0, 0);

  OfxParamSetHandle params = nullptr;
  g_effect->getParamSet(effect, &params);
  define_choice(params, kParamOutputMode, "Output", "What the Output clip carries.", kOutputModes, 0);
  if (general) {
    define_choice(params, kParamTrimapSource, "Trimap source",
                  "Where the trimap comes from: the Trimap input (0 background, 1 foreground, in between "
                  "unknown), the Source alpha read the same way, or the Source alpha as a rough matte turned "
                  "into a trimap with the band width.",
                  kTrimapSourcesGeneral, 0);
    OfxPropertySetHandle p = define_param(
        params, kOfxParamTypeBoolean, kParamUseTrimapInput, "Use Trimap input",
        "Read the Trimap input. Turn off on hosts that report an unplugged input as connected (DaVinci "
        "Resolve): the trimap then comes from the Source alpha.");
    g_props->propSetInt(p, kOfxParamPropDefault, 0, 1);
    g_props->propSetInt(p, kOfxParamPropAnimates, 0, 0);
  } else {
    define_choice(params, kParamTrimapSource, "Trimap source",
                  "The Source alpha is the trimap (0 background, 1 foreground, in between unknown), or a rough "
                  "matte turned into a trimap with the band width.",
                  kTrimapSourcesFilter, 0);
  }
  define_double(params, kParamBandWidth, "Band width",
                "Width in pixels (at full resolution) of the unknown band made around a rough matte's edge.",
                10.0, 1.0, 1000.0, 100.0);
  define_choice(params, kParamPreset, "Quality",
                "Balanced (default): closed-form matting refined by colour estimates, seconds a frame. "
                "DIP: the Deep Image Prior nets from a closed-form start; frames warm-start. "
                "Draft: the DIP at preview size, from Balanced's matte (a quick look at what the nets do to "
                "it: on a CPU slower than Balanced). Paper: the published settings (very slow on a CPU).",
                kPresets, 1);
  define_int(params, kParamMaxIterations, "Max iterations",
             "Cap on optimisation steps per frame; 0 uses the quality preset's cap.", 0, 0, 100000, 5000);
  define_double(params, kParamLossThreshold, "Loss threshold",
                "Stop a frame once the total loss falls below this; 0 uses the preset's rule (warm frames "
                "stop relative to the first frame's loss).",
                0.0, 0.0, 10.0, 0.1);
  define_int(params, kParamSeed, "Seed", "Seeds the networks' weights and noise: same seed, same matte.", 0, 0,
             1 << 30, 1000);
  {
    OfxPropertySetHandle p = define_param(
        params, kOfxParamTypeBoolean, kParamIndependentFrames, "Independent frames",
        "Solve every frame on its own. Off (default): on a shot whose camera stays, each frame is "
        "solved against the background the frames rendered before it showed, a better matte whose "
        "pixels then depend on which frames came first. On: the same frame gives the same pixels "
        "whatever was rendered before (farm renders in chunks).");
    g_props->propSetInt(p, kOfxParamPropDefault, 0, 0);
    g_props->propSetInt(p, kOfxParamPropAnimates, 0, 0);
  }
  {
    OfxPropertySetHandle p = define_param(
        params, kOfxParamTypeBoolean, kParamKeepSmoothMattes, "Keep smooth mattes",
        "Balanced: where the closed-form matte is smooth and the plate shows no detail of the subject's own "
        "there (smoke, steam, veils: the background seen through), that matte is kept as it is, because "
        "refining it from the colours estimated behind semi-transparent matter made it worse; strands and "
        "edges are refined as usual. On (default). Off: refined everywhere.");
    g_props->propSetInt(p, kOfxParamPropDefault, 0, 1);
    g_props->propSetInt(p, kOfxParamPropAnimates, 0, 0);
  }
  define_int(params, kParamBackgroundFrames, "Background frames",
             "How many frames on each side of the rendered one show the solve their known background "
             "(trimap 0), fetched from the inputs before it: where the subject moves, they uncover what "
             "hides behind this frame's band. 0: only the frames rendered before. Not used with Independent "
             "frames, nor on hosts that cannot fetch other frames (MLT).",
             kDefaultBackgroundFrames, 0, 1000, 50);
  define_choice(params, kParamDevice, "Device", "Auto uses CUDA when available, else the CPU.", kDevices, 0);
  define_choice(params, kParamEngine, "Engine",
                "Where the solve runs. Automatic: inside the host when its Python allows it, else in a separate "
                "process. In host process: no copies, but it shares the host's memory and fate. Separate process: "
                "a worker started from the installed Python (hosts with their own Python, crash isolation). "
                "The environment variable OFX_DIPMATTE_ENGINE=auto|in_process|worker overrides this.",
                kEngines, 0);

  // The output's premultiplication depends on the mode.
  OfxPropertySetHandle effect_props = nullptr;
  g_effect->getPropertySet(effect, &effect_props);
  g_props->propSetString(effect_props, kOfxImageEffectPropClipPreferencesSlaveParam, 0, kParamOutputMode);
  return kOfxStatOK;
}

int int_at(OfxImageEffectHandle effect, const char* name, OfxTime time) {
  int value = 0;
  if (g_params->paramGetValueAtTime(param(effect, name), time, &value) != kOfxStatOK)
    throw std::runtime_error(std::string("could not read the parameter ") + name);
  return value;
}

double double_at(OfxImageEffectHandle effect, const char* name, OfxTime time) {
  double value = 0;
  if (g_params->paramGetValueAtTime(param(effect, name), time, &value) != kOfxStatOK)
    throw std::runtime_error(std::string("could not read the parameter ") + name);
  return value;
}

const char* choice_at(OfxImageEffectHandle effect, const char* name, OfxTime time, const std::vector<Option>& options) {
  int index = int_at(effect, name, time);
  if (index < 0 || index >= static_cast<int>(options.size()))
    throw std::runtime_error(std::string("the parameter ") + name + " has no option " + std::to_string(index));
  return options[static_cast<size_t>(index)].key;
}

const char* output_mode(OfxImageEffectHandle effect, OfxTime time) {
  return choice_at(effect, kParamOutputMode, time, kOutputModes);
}

}  // namespace dip
