#include "host_suites.h"

#include "ofx/ofx_names.h"

namespace dip {

const OfxPropertySuiteV1* g_props = nullptr;
const OfxImageEffectSuiteV1* g_effect = nullptr;
const OfxParameterSuiteV1* g_params = nullptr;
const OfxMessageSuiteV1* g_message1 = nullptr;
const OfxMessageSuiteV2* g_message2 = nullptr;
const OfxProgressSuiteV1* g_progress1 = nullptr;
const OfxProgressSuiteV2* g_progress2 = nullptr;
std::string g_host_name;
bool g_host_temporal = false;

namespace {
template <typename Suite>
const Suite* fetch(const OfxHost* host, const char* name, int version) {
  if (host == nullptr || host->fetchSuite == nullptr) return nullptr;
  return static_cast<const Suite*>(host->fetchSuite(host->host, name, version));
}
}  // namespace

bool fetch_suites(const OfxHost* host) {
  g_props = fetch<OfxPropertySuiteV1>(host, kOfxPropertySuite, 1);
  g_effect = fetch<OfxImageEffectSuiteV1>(host, kOfxImageEffectSuite, 1);
  g_params = fetch<OfxParameterSuiteV1>(host, kOfxParameterSuite, 1);
  g_message1 = fetch<OfxMessageSuiteV1>(host, kOfxMessageSuite, 1);
  g_message2 = fetch<OfxMessageSuiteV2>(host, kOfxMessageSuite, 2);
  g_progress2 = fetch<OfxProgressSuiteV2>(host, kOfxProgressSuite, 2);
  g_progress1 = g_progress2 ? nullptr : fetch<OfxProgressSuiteV1>(host, kOfxProgressSuite, 1);
  char* name = nullptr;
  if (g_props && host && g_props->propGetString(host->host, kOfxPropName, 0, &name) == kOfxStatOK && name)
    g_host_name = name;
  int temporal = 0;
  if (g_props && host && g_props->propGetInt(host->host, kOfxImageEffectPropTemporalClipAccess, 0, &temporal) == kOfxStatOK)
    g_host_temporal = temporal != 0;  // MLT says 0: its clipGetImage returns the current frame at any time
  return g_props && g_effect && g_params;
}

}  // namespace dip
