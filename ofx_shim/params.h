// The plugin's clips and parameters: their names, the choice options, describing them
// to the host, and reading them at a time.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "ofx/ofx_core.h"

namespace dip {

constexpr const char* kTrimapClip = "Trimap";
constexpr const char* kCleanPlateClip = "CleanPlate";  // optional: the background without the subject

// Parameter names (script names) and choice option lists, in option order.
constexpr const char* kParamOutputMode = "outputMode";
constexpr const char* kParamTrimapSource = "trimapSource";
constexpr const char* kParamUseTrimapInput = "useTrimapInput";
constexpr const char* kParamBandWidth = "bandWidth";
constexpr const char* kParamPreset = "preset";
constexpr const char* kParamMaxIterations = "maxIterations";
constexpr const char* kParamLossThreshold = "lossThreshold";
constexpr const char* kParamSeed = "seed";
constexpr const char* kParamIndependentFrames = "independentFrames";
constexpr const char* kParamKeepSmoothMattes = "keepSmoothMattes";
constexpr const char* kParamBackgroundFrames = "backgroundFrames";
// Eight each side: on the dev clip as good as showing all its frames (the shot CLI).
constexpr int kDefaultBackgroundFrames = 8;
constexpr const char* kParamDevice = "device";
constexpr const char* kParamEngine = "engine";

struct Option {
  const char* label;
  const char* key;  // what the engine bridge receives
};
inline const std::vector<Option> kOutputModes = {{"Premultiplied foreground + alpha", "premultiplied"},
                                          {"Straight foreground + alpha", "straight"},
                                          {"Alpha only", "alpha"},
                                          {"Background plate", "background"},
                                          {"Trimap view", "trimap"}};
inline const std::vector<Option> kTrimapSourcesGeneral = {{"Trimap input", "trimap"},
                                                   {"Source alpha", "source_alpha"},
                                                   {"Source alpha as rough matte", "source_alpha_rough"}};
inline const std::vector<Option> kTrimapSourcesFilter = {{"Source alpha", "source_alpha"},
                                                  {"Source alpha as rough matte", "source_alpha_rough"}};
// Appended, never reordered: hosts save the index in their projects.
inline const std::vector<Option> kPresets = {
    {"Draft", "draft"}, {"Balanced", "balanced"}, {"Paper", "paper"}, {"DIP", "dip"}};
// The presets that carry a shot's background (Python: PRESETS[key].carry_background; a
// test checks the two agree): only they are shown the Background frames, so the others
// fetch no frame but the one rendered.
inline bool preset_carries_background(const char* key) { return std::strcmp(key, "balanced") == 0; }
inline const std::vector<Option> kDevices = {{"Auto", "auto"}, {"CPU", "cpu"}, {"CUDA", "cuda"}};
inline const std::vector<Option> kEngines = {
    {"Automatic", "auto"}, {"In host process", "in_process"}, {"Separate process", "worker"}};

OfxStatus describe(OfxImageEffectHandle effect);
OfxStatus describe_in_context(OfxImageEffectHandle effect, OfxPropertySetHandle in_args);

// Parameter values at `time` (render actions must read values at their time). Throw
// std::runtime_error when the host has no such parameter or refuses the read.
int int_at(OfxImageEffectHandle effect, const char* name, OfxTime time);
double double_at(OfxImageEffectHandle effect, const char* name, OfxTime time);
const char* choice_at(OfxImageEffectHandle effect, const char* name, OfxTime time, const std::vector<Option>& options);
const char* output_mode(OfxImageEffectHandle effect, OfxTime time);

}  // namespace dip
