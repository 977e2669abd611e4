// Our own declarations of the part of the OpenFX C ABI that ofx_dipmatte uses.
// Written from the public OpenFX 1.5 specification (ofxCore.h, ofxImageEffect.h,
// ofxProperty.h, ofxParam.h, ofxMemory.h, ofxMultiThread.h, ofxMessage.h,
// ofxProgress.h). Struct members and suite function pointers are in the exact order
// of the specification: that order is the ABI.
#pragma once

#include <climits>
#include <cstddef>

extern "C" {

typedef int OfxStatus;
typedef double OfxTime;

typedef struct OfxPropertySetStruct* OfxPropertySetHandle;
typedef struct OfxImageEffectStruct* OfxImageEffectHandle;
typedef struct OfxImageClipStruct* OfxImageClipHandle;
typedef struct OfxParamSetStruct* OfxParamSetHandle;
typedef struct OfxParamStruct* OfxParamHandle;
typedef struct OfxImageMemoryStruct* OfxImageMemoryHandle;
typedef struct OfxMutex* OfxMutexHandle;

typedef struct OfxRectI { int x1, y1, x2, y2; } OfxRectI;
typedef struct OfxRectD { double x1, y1, x2, y2; } OfxRectD;
typedef struct OfxPointI { int x, y; } OfxPointI;
typedef struct OfxPointD { double x, y; } OfxPointD;
typedef struct OfxRangeI { int min, max; } OfxRangeI;
typedef struct OfxRangeD { double min, max; } OfxRangeD;

typedef struct OfxHost {
  OfxPropertySetHandle host;
  const void* (*fetchSuite)(OfxPropertySetHandle host, const char* suiteName, int suiteVersion);
} OfxHost;

typedef OfxStatus(OfxPluginEntryPoint)(const char* action, const void* handle,
                                       OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs);

typedef struct OfxPlugin {
  const char* pluginApi;
  int apiVersion;
  const char* pluginIdentifier;
  unsigned int pluginVersionMajor;
  unsigned int pluginVersionMinor;
  void (*setHost)(OfxHost* host);
  OfxPluginEntryPoint* mainEntry;
} OfxPlugin;

// The three symbols a plugin binary exports.
typedef int (*OfxGetNumberOfPluginsFn)(void);
typedef OfxPlugin* (*OfxGetPluginFn)(int nth);
typedef OfxStatus (*OfxSetHostFn)(const OfxHost* host);

}  // extern "C"

// Status codes.
constexpr OfxStatus kOfxStatOK = 0;
constexpr OfxStatus kOfxStatFailed = 1;
constexpr OfxStatus kOfxStatErrFatal = 2;
constexpr OfxStatus kOfxStatErrUnknown = 3;
constexpr OfxStatus kOfxStatErrMissingHostFeature = 4;
constexpr OfxStatus kOfxStatErrUnsupported = 5;
constexpr OfxStatus kOfxStatErrExists = 6;
constexpr OfxStatus kOfxStatErrFormat = 7;
constexpr OfxStatus kOfxStatErrMemory = 8;
constexpr OfxStatus kOfxStatErrBadHandle = 9;
constexpr OfxStatus kOfxStatErrBadIndex = 10;
constexpr OfxStatus kOfxStatErrValue = 11;
constexpr OfxStatus kOfxStatReplyYes = 12;
constexpr OfxStatus kOfxStatReplyNo = 13;
constexpr OfxStatus kOfxStatReplyDefault = 14;
constexpr OfxStatus kOfxStatUnlicensed = 15;
constexpr OfxStatus kOfxStatErrImageFormat = 1000;

constexpr int kOfxFlagInfiniteMax = INT_MAX;
constexpr int kOfxFlagInfiniteMin = INT_MIN;
