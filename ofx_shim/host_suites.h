// The host's suites, fetched once on Load and shared by the plugin's files.
#pragma once

#include <string>

#include "ofx/ofx_suites.h"

namespace dip {

extern const OfxPropertySuiteV1* g_props;
extern const OfxImageEffectSuiteV1* g_effect;
extern const OfxParameterSuiteV1* g_params;
extern const OfxMessageSuiteV1* g_message1;  // optional suites are null when the host lacks them
extern const OfxMessageSuiteV2* g_message2;
extern const OfxProgressSuiteV1* g_progress1;
extern const OfxProgressSuiteV2* g_progress2;
extern std::string g_host_name;  // the host's kOfxPropName ("fr.inria.Natron", "MLT", ...)
extern bool g_host_temporal;     // the host lets effects fetch other frames (kOfxImageEffectPropTemporalClipAccess)

// Fetches every suite from `host`; false when a required one (property, image effect,
// parameter) is missing.
bool fetch_suites(const OfxHost* host);

}  // namespace dip
