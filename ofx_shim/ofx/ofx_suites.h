// The OFX suites we use, member by member in the specification's order.
#pragma once

#include "ofx_core.h"

extern "C" {

typedef struct OfxPropertySuiteV1 {
  OfxStatus (*propSetPointer)(OfxPropertySetHandle, const char* property, int index, void* value);
  OfxStatus (*propSetString)(OfxPropertySetHandle, const char* property, int index, const char* value);
  OfxStatus (*propSetDouble)(OfxPropertySetHandle, const char* property, int index, double value);
  OfxStatus (*propSetInt)(OfxPropertySetHandle, const char* property, int index, int value);
  OfxStatus (*propSetPointerN)(OfxPropertySetHandle, const char* property, int count, void* const* value);
  OfxStatus (*propSetStringN)(OfxPropertySetHandle, const char* property, int count, const char* const* value);
  OfxStatus (*propSetDoubleN)(OfxPropertySetHandle, const char* property, int count, const double* value);
  OfxStatus (*propSetIntN)(OfxPropertySetHandle, const char* property, int count, const int* value);
  OfxStatus (*propGetPointer)(OfxPropertySetHandle, const char* property, int index, void** value);
  OfxStatus (*propGetString)(OfxPropertySetHandle, const char* property, int index, char** value);
  OfxStatus (*propGetDouble)(OfxPropertySetHandle, const char* property, int index, double* value);
  OfxStatus (*propGetInt)(OfxPropertySetHandle, const char* property, int index, int* value);
  OfxStatus (*propGetPointerN)(OfxPropertySetHandle, const char* property, int count, void** value);
  OfxStatus (*propGetStringN)(OfxPropertySetHandle, const char* property, int count, char** value);
  OfxStatus (*propGetDoubleN)(OfxPropertySetHandle, const char* property, int count, double* value);
  OfxStatus (*propGetIntN)(OfxPropertySetHandle, const char* property, int count, int* value);
  OfxStatus (*propReset)(OfxPropertySetHandle, const char* property);
  OfxStatus (*propGetDimension)(OfxPropertySetHandle, const char* property, int* count);
} OfxPropertySuiteV1;

typedef struct OfxImageEffectSuiteV1 {
  OfxStatus (*getPropertySet)(OfxImageEffectHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*getParamSet)(OfxImageEffectHandle, OfxParamSetHandle* paramSet);
  OfxStatus (*clipDefine)(OfxImageEffectHandle, const char* name, OfxPropertySetHandle* propertySet);
  OfxStatus (*clipGetHandle)(OfxImageEffectHandle, const char* name, OfxImageClipHandle* clip,
                             OfxPropertySetHandle* propertySet);
  OfxStatus (*clipGetPropertySet)(OfxImageClipHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*clipGetImage)(OfxImageClipHandle, OfxTime time, const OfxRectD* region,
                            OfxPropertySetHandle* imageHandle);
  OfxStatus (*clipReleaseImage)(OfxPropertySetHandle imageHandle);
  OfxStatus (*clipGetRegionOfDefinition)(OfxImageClipHandle, OfxTime time, OfxRectD* bounds);
  int (*abort)(OfxImageEffectHandle);
  OfxStatus (*imageMemoryAlloc)(OfxImageEffectHandle instanceHandle, size_t nBytes,
                                OfxImageMemoryHandle* memoryHandle);
  OfxStatus (*imageMemoryFree)(OfxImageMemoryHandle);
  OfxStatus (*imageMemoryLock)(OfxImageMemoryHandle, void** returnedPtr);
  OfxStatus (*imageMemoryUnlock)(OfxImageMemoryHandle);
} OfxImageEffectSuiteV1;

typedef struct OfxParameterSuiteV1 {
  OfxStatus (*paramDefine)(OfxParamSetHandle, const char* paramType, const char* name,
                           OfxPropertySetHandle* propertySet);
  OfxStatus (*paramGetHandle)(OfxParamSetHandle, const char* name, OfxParamHandle* param,
                              OfxPropertySetHandle* propertySet);
  OfxStatus (*paramSetGetPropertySet)(OfxParamSetHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*paramGetPropertySet)(OfxParamHandle, OfxPropertySetHandle* propHandle);
  OfxStatus (*paramGetValue)(OfxParamHandle, ...);
  OfxStatus (*paramGetValueAtTime)(OfxParamHandle, OfxTime time, ...);
  OfxStatus (*paramGetDerivative)(OfxParamHandle, OfxTime time, ...);
  OfxStatus (*paramGetIntegral)(OfxParamHandle, OfxTime time1, OfxTime time2, ...);
  OfxStatus (*paramSetValue)(OfxParamHandle, ...);
  OfxStatus (*paramSetValueAtTime)(OfxParamHandle, OfxTime time, ...);
  OfxStatus (*paramGetNumKeys)(OfxParamHandle, unsigned int* numberOfKeys);
  OfxStatus (*paramGetKeyTime)(OfxParamHandle, unsigned int nthKey, OfxTime* time);
  OfxStatus (*paramGetKeyIndex)(OfxParamHandle, OfxTime time, int direction, int* index);
  OfxStatus (*paramDeleteKey)(OfxParamHandle, OfxTime time);
  OfxStatus (*paramDeleteAllKeys)(OfxParamHandle);
  OfxStatus (*paramCopy)(OfxParamHandle paramTo, OfxParamHandle paramFrom, OfxTime dstOffset,
                         const OfxRangeD* frameRange);
  OfxStatus (*paramEditBegin)(OfxParamSetHandle, const char* name);
  OfxStatus (*paramEditEnd)(OfxParamSetHandle);
} OfxParameterSuiteV1;

typedef struct OfxMemorySuiteV1 {
  OfxStatus (*memoryAlloc)(void* handle, size_t nBytes, void** allocatedData);
  OfxStatus (*memoryFree)(void* allocatedData);
} OfxMemorySuiteV1;

typedef void(OfxThreadFunctionV1)(unsigned int threadIndex, unsigned int threadMax, void* customArg);

typedef struct OfxMultiThreadSuiteV1 {
  OfxStatus (*multiThread)(OfxThreadFunctionV1 func, unsigned int nThreads, void* customArg);
  OfxStatus (*multiThreadNumCPUs)(unsigned int* nCPUs);
  OfxStatus (*multiThreadIndex)(unsigned int* threadIndex);
  int (*multiThreadIsSpawnedThread)(void);
  OfxStatus (*mutexCreate)(OfxMutexHandle* mutex, int lockCount);
  OfxStatus (*mutexDestroy)(const OfxMutexHandle mutex);
  OfxStatus (*mutexLock)(const OfxMutexHandle mutex);
  OfxStatus (*mutexUnLock)(const OfxMutexHandle mutex);
  OfxStatus (*mutexTryLock)(const OfxMutexHandle mutex);
} OfxMultiThreadSuiteV1;

typedef struct OfxMessageSuiteV1 {
  OfxStatus (*message)(void* handle, const char* messageType, const char* messageId, const char* format, ...);
} OfxMessageSuiteV1;

typedef struct OfxMessageSuiteV2 {
  OfxStatus (*message)(void* handle, const char* messageType, const char* messageId, const char* format, ...);
  OfxStatus (*setPersistentMessage)(void* handle, const char* messageType, const char* messageId,
                                    const char* format, ...);
  OfxStatus (*clearPersistentMessage)(void* handle);
} OfxMessageSuiteV2;

typedef struct OfxProgressSuiteV1 {
  OfxStatus (*progressStart)(void* effectInstance, const char* label);
  OfxStatus (*progressUpdate)(void* effectInstance, double progress);
  OfxStatus (*progressEnd)(void* effectInstance);
} OfxProgressSuiteV1;

typedef struct OfxProgressSuiteV2 {
  OfxStatus (*progressStart)(void* effectInstance, const char* message, const char* messageid);
  OfxStatus (*progressUpdate)(void* effectInstance, double progress);
  OfxStatus (*progressEnd)(void* effectInstance);
} OfxProgressSuiteV2;

}  // extern "C"

// Suite names and the versions we ask for.
constexpr const char* kOfxPropertySuite = "OfxPropertySuite";
constexpr const char* kOfxImageEffectSuite = "OfxImageEffectSuite";
constexpr const char* kOfxParameterSuite = "OfxParameterSuite";
constexpr const char* kOfxMemorySuite = "OfxMemorySuite";
constexpr const char* kOfxMultiThreadSuite = "OfxMultiThreadSuite";
constexpr const char* kOfxMessageSuite = "OfxMessageSuite";
constexpr const char* kOfxProgressSuite = "OfxProgressSuite";
