// The suites of the test host: property sets, image effect, parameters, memory,
// multithread, messages and progress. Handles given to the plugin point at the
// objects of host.h.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "../ofx/ofx_names.h"
#include "host.h"
#include "suites.h"

namespace testhost {

// ---------------------------------------------------------------------------------
// Property sets

void PropertySet::set_int(const std::string& name, std::vector<int> v) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  auto& p = values[name];
  p.type = Property::Int;
  p.ints = std::move(v);
}
void PropertySet::set_double(const std::string& name, std::vector<double> v) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  auto& p = values[name];
  p.type = Property::Double;
  p.doubles = std::move(v);
}
void PropertySet::set_string(const std::string& name, std::vector<std::string> v) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  auto& p = values[name];
  p.type = Property::String;
  p.strings = std::move(v);
}
void PropertySet::set_pointer(const std::string& name, void* v) {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  auto& p = values[name];
  p.type = Property::Pointer;
  p.pointers = {v};
}
int PropertySet::get_int(const std::string& name, int index, int fallback) const {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  auto it = values.find(name);
  if (it == values.end() || index >= static_cast<int>(it->second.ints.size())) return fallback;
  return it->second.ints[static_cast<size_t>(index)];
}
std::string PropertySet::get_string(const std::string& name, int index) const {
  std::lock_guard<std::recursive_mutex> lock(mutex);
  auto it = values.find(name);
  if (it == values.end() || index >= static_cast<int>(it->second.strings.size())) return {};
  return it->second.strings[static_cast<size_t>(index)];
}

int channel_bytes(const std::string& depth) {
  if (depth == kOfxBitDepthByte) return 1;
  if (depth == kOfxBitDepthShort) return 2;
  if (depth == kOfxBitDepthFloat) return 4;
  return 0;
}
int channel_count(const std::string& components) {
  if (components == kOfxImageComponentRGBA) return 4;
  if (components == kOfxImageComponentRGB) return 3;
  if (components == kOfxImageComponentAlpha) return 1;
  return 0;
}

namespace {

Host* g_host_object = nullptr;  // for messages sent with a NULL handle

PropertySet* ps(OfxPropertySetHandle h) { return reinterpret_cast<PropertySet*>(h); }

// The plugin may set any property; it may only read what exists, with the right type.
template <typename T, typename Store>
OfxStatus prop_set(OfxPropertySetHandle h, const char* name, int index, T value, Property::Type type, Store store) {
  if (!h || !name || index < 0) return kOfxStatErrBadHandle;
  auto* set = ps(h);
  std::lock_guard<std::recursive_mutex> lock(set->mutex);
  auto& p = set->values[name];
  p.type = type;
  store(p, static_cast<size_t>(index), value);
  return kOfxStatOK;
}

template <typename V>
void store_at(std::vector<V>& vec, size_t index, V value) {
  if (vec.size() <= index) vec.resize(index + 1);
  vec[index] = value;
}

OfxStatus propSetPointer(OfxPropertySetHandle h, const char* n, int i, void* v) {
  return prop_set(h, n, i, v, Property::Pointer, [](Property& p, size_t k, void* x) { store_at(p.pointers, k, x); });
}
OfxStatus propSetString(OfxPropertySetHandle h, const char* n, int i, const char* v) {
  if (!v) return kOfxStatErrValue;
  return prop_set(h, n, i, v, Property::String,
                  [](Property& p, size_t k, const char* x) { store_at(p.strings, k, std::string(x)); });
}
OfxStatus propSetDouble(OfxPropertySetHandle h, const char* n, int i, double v) {
  return prop_set(h, n, i, v, Property::Double, [](Property& p, size_t k, double x) { store_at(p.doubles, k, x); });
}
OfxStatus propSetInt(OfxPropertySetHandle h, const char* n, int i, int v) {
  return prop_set(h, n, i, v, Property::Int, [](Property& p, size_t k, int x) { store_at(p.ints, k, x); });
}
OfxStatus propSetPointerN(OfxPropertySetHandle h, const char* n, int c, void* const* v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propSetPointer(h, n, i, v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propSetStringN(OfxPropertySetHandle h, const char* n, int c, const char* const* v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propSetString(h, n, i, v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propSetDoubleN(OfxPropertySetHandle h, const char* n, int c, const double* v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propSetDouble(h, n, i, v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propSetIntN(OfxPropertySetHandle h, const char* n, int c, const int* v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propSetInt(h, n, i, v[i])) return s;
  return kOfxStatOK;
}

template <typename F>
OfxStatus prop_get(OfxPropertySetHandle h, const char* name, Property::Type type, F read) {
  if (!h || !name) return kOfxStatErrBadHandle;
  auto* set = ps(h);
  std::lock_guard<std::recursive_mutex> lock(set->mutex);
  auto it = set->values.find(name);
  if (it == set->values.end()) return kOfxStatErrUnknown;
  if (it->second.type != type) return kOfxStatErrValue;
  return read(it->second);
}

OfxStatus propGetPointer(OfxPropertySetHandle h, const char* n, int i, void** v) {
  return prop_get(h, n, Property::Pointer, [&](Property& p) {
    if (i < 0 || i >= static_cast<int>(p.pointers.size())) return kOfxStatErrBadIndex;
    *v = p.pointers[static_cast<size_t>(i)];
    return kOfxStatOK;
  });
}
OfxStatus propGetString(OfxPropertySetHandle h, const char* n, int i, char** v) {
  return prop_get(h, n, Property::String, [&](Property& p) {
    if (i < 0 || i >= static_cast<int>(p.strings.size())) return kOfxStatErrBadIndex;
    *v = const_cast<char*>(p.strings[static_cast<size_t>(i)].c_str());
    return kOfxStatOK;
  });
}
OfxStatus propGetDouble(OfxPropertySetHandle h, const char* n, int i, double* v) {
  return prop_get(h, n, Property::Double, [&](Property& p) {
    if (i < 0 || i >= static_cast<int>(p.doubles.size())) return kOfxStatErrBadIndex;
    *v = p.doubles[static_cast<size_t>(i)];
    return kOfxStatOK;
  });
}
OfxStatus propGetInt(OfxPropertySetHandle h, const char* n, int i, int* v) {
  return prop_get(h, n, Property::Int, [&](Property& p) {
    if (i < 0 || i >= static_cast<int>(p.ints.size())) return kOfxStatErrBadIndex;
    *v = p.ints[static_cast<size_t>(i)];
    return kOfxStatOK;
  });
}
OfxStatus propGetPointerN(OfxPropertySetHandle h, const char* n, int c, void** v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propGetPointer(h, n, i, &v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propGetStringN(OfxPropertySetHandle h, const char* n, int c, char** v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propGetString(h, n, i, &v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propGetDoubleN(OfxPropertySetHandle h, const char* n, int c, double* v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propGetDouble(h, n, i, &v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propGetIntN(OfxPropertySetHandle h, const char* n, int c, int* v) {
  for (int i = 0; i < c; ++i)
    if (OfxStatus s = propGetInt(h, n, i, &v[i])) return s;
  return kOfxStatOK;
}
OfxStatus propReset(OfxPropertySetHandle h, const char* n) {
  if (!h || !n) return kOfxStatErrBadHandle;
  std::lock_guard<std::recursive_mutex> lock(ps(h)->mutex);
  return ps(h)->values.erase(n) ? kOfxStatOK : kOfxStatErrUnknown;
}
OfxStatus propGetDimension(OfxPropertySetHandle h, const char* n, int* count) {
  if (!h || !n || !count) return kOfxStatErrBadHandle;
  std::lock_guard<std::recursive_mutex> lock(ps(h)->mutex);
  auto it = ps(h)->values.find(n);
  if (it == ps(h)->values.end()) return kOfxStatErrUnknown;
  const Property& p = it->second;
  *count = static_cast<int>(p.type == Property::Int      ? p.ints.size()
                            : p.type == Property::Double ? p.doubles.size()
                            : p.type == Property::String ? p.strings.size()
                                                         : p.pointers.size());
  return kOfxStatOK;
}

const OfxPropertySuiteV1 kPropertySuite = {
    propSetPointer,  propSetString,  propSetDouble,  propSetInt,     propSetPointerN,  propSetStringN,
    propSetDoubleN,  propSetIntN,    propGetPointer, propGetString,  propGetDouble,    propGetInt,
    propGetPointerN, propGetStringN, propGetDoubleN, propGetIntN,    propReset,        propGetDimension};

// ---------------------------------------------------------------------------------
// Image effect suite

Effect* fx(OfxImageEffectHandle h) { return reinterpret_cast<Effect*>(h); }
Clip* clip_of(OfxImageClipHandle h) { return reinterpret_cast<Clip*>(h); }

std::mutex g_images_mutex;
std::map<PropertySet*, Clip*> g_live_images;  // fetched and not yet released

OfxStatus getPropertySet(OfxImageEffectHandle h, OfxPropertySetHandle* out) {
  if (!h || !out) return kOfxStatErrBadHandle;
  *out = reinterpret_cast<OfxPropertySetHandle>(&fx(h)->props);
  return kOfxStatOK;
}
OfxStatus getParamSet(OfxImageEffectHandle h, OfxParamSetHandle* out) {
  if (!h || !out) return kOfxStatErrBadHandle;
  *out = reinterpret_cast<OfxParamSetHandle>(&fx(h)->params);
  return kOfxStatOK;
}
OfxStatus clipDefine(OfxImageEffectHandle h, const char* name, OfxPropertySetHandle* out) {
  if (!h || !name) return kOfxStatErrBadHandle;
  auto& clip = fx(h)->clips[name];
  if (!clip) {
    clip = std::make_unique<Clip>();
    clip->effect = fx(h);
    clip->name = name;
    clip->props.set_string(kOfxPropName, {name});
  }
  if (out) *out = reinterpret_cast<OfxPropertySetHandle>(&clip->props);
  return kOfxStatOK;
}
OfxStatus clipGetHandle(OfxImageEffectHandle h, const char* name, OfxImageClipHandle* clip, OfxPropertySetHandle* props) {
  if (!h || !name || !clip) return kOfxStatErrBadHandle;
  auto it = fx(h)->clips.find(name);
  if (it == fx(h)->clips.end()) return kOfxStatErrUnknown;
  *clip = reinterpret_cast<OfxImageClipHandle>(it->second.get());
  if (props) *props = reinterpret_cast<OfxPropertySetHandle>(&it->second->props);
  return kOfxStatOK;
}
OfxStatus clipGetPropertySet(OfxImageClipHandle h, OfxPropertySetHandle* out) {
  if (!h || !out) return kOfxStatErrBadHandle;
  *out = reinterpret_cast<OfxPropertySetHandle>(&clip_of(h)->props);
  return kOfxStatOK;
}

PropertySet* image_props(const ImageBuffer& image) {
  auto* set = new PropertySet;
  void* data = image.null_data ? nullptr : const_cast<unsigned char*>(image.bytes.data()) + image.offset;
  set->set_pointer(kOfxImagePropData, data);
  set->set_int(kOfxImagePropBounds, {image.bounds[0], image.bounds[1], image.bounds[2], image.bounds[3]});
  set->set_int(kOfxImagePropRegionOfDefinition, {image.bounds[0], image.bounds[1], image.bounds[2], image.bounds[3]});
  set->set_int(kOfxImagePropRowBytes, {image.row_bytes});
  set->set_string(kOfxImageEffectPropPixelDepth, {image.depth});
  set->set_string(kOfxImageEffectPropComponents, {image.components});
  set->set_double(kOfxImagePropPixelAspectRatio, {1.0});
  set->set_string(kOfxImageEffectPropPreMultiplication, {image.premultiplication});
  return set;
}

OfxStatus clipGetImage(OfxImageClipHandle h, OfxTime time, const OfxRectD*, OfxPropertySetHandle* out) {
  if (!h || !out) return kOfxStatErrBadHandle;
  Clip* clip = clip_of(h);
  const bool is_output = clip->name == kOfxImageEffectOutputClipName;
  {
    std::lock_guard<std::mutex> lock(g_images_mutex);
    clip->fetched.push_back(time);
  }
  auto it = clip->images.find(is_output ? 0.0 : time);
  if (it == clip->images.end() || (!is_output && !clip->props.get_int(kOfxImageClipPropConnected))) {
    *out = nullptr;
    return kOfxStatFailed;  // no image at that time
  }
  PropertySet* set = image_props(it->second);
  {
    std::lock_guard<std::mutex> lock(g_images_mutex);
    g_live_images[set] = clip;
  }
  *out = reinterpret_cast<OfxPropertySetHandle>(set);
  return kOfxStatOK;
}
OfxStatus clipReleaseImage(OfxPropertySetHandle h) {
  std::lock_guard<std::mutex> lock(g_images_mutex);
  auto it = g_live_images.find(ps(h));
  if (it == g_live_images.end()) return kOfxStatErrBadHandle;
  delete it->first;
  g_live_images.erase(it);
  return kOfxStatOK;
}
OfxStatus clipGetRegionOfDefinition(OfxImageClipHandle h, OfxTime time, OfxRectD* out) {
  if (!h || !out) return kOfxStatErrBadHandle;
  auto it = clip_of(h)->images.find(time);
  if (it == clip_of(h)->images.end()) return kOfxStatFailed;
  const int* b = it->second.bounds;
  *out = {double(b[0]), double(b[1]), double(b[2]), double(b[3])};
  return kOfxStatOK;
}
int abortFn(OfxImageEffectHandle h) { return h && fx(h)->abort_flag.load() ? 1 : 0; }
OfxStatus imageMemoryAlloc(OfxImageEffectHandle, size_t n, OfxImageMemoryHandle* out) {
  void* p = std::malloc(n ? n : 1);
  if (!p) return kOfxStatErrMemory;
  *out = reinterpret_cast<OfxImageMemoryHandle>(p);
  return kOfxStatOK;
}
OfxStatus imageMemoryFree(OfxImageMemoryHandle h) {
  std::free(h);
  return kOfxStatOK;
}
OfxStatus imageMemoryLock(OfxImageMemoryHandle h, void** out) {
  *out = h;
  return kOfxStatOK;
}
OfxStatus imageMemoryUnlock(OfxImageMemoryHandle) { return kOfxStatOK; }

const OfxImageEffectSuiteV1 kImageEffectSuite = {
    getPropertySet, getParamSet,     clipDefine,       clipGetHandle,   clipGetPropertySet,
    clipGetImage,   clipReleaseImage, clipGetRegionOfDefinition, abortFn, imageMemoryAlloc,
    imageMemoryFree, imageMemoryLock, imageMemoryUnlock};

// ---------------------------------------------------------------------------------
// Parameter suite (values do not animate here: any time gives the set value)

ParamSet* pset(OfxParamSetHandle h) { return reinterpret_cast<ParamSet*>(h); }
Param* prm(OfxParamHandle h) { return reinterpret_cast<Param*>(h); }

OfxStatus paramDefine(OfxParamSetHandle h, const char* type, const char* name, OfxPropertySetHandle* out) {
  if (!h || !type || !name) return kOfxStatErrBadHandle;
  auto& p = pset(h)->params[name];
  if (p) return kOfxStatErrExists;
  p = std::make_unique<Param>();
  p->type = type;
  p->props.set_string(kOfxPropName, {name});
  p->props.set_string(kOfxPropType, {type});
  if (out) *out = reinterpret_cast<OfxPropertySetHandle>(&p->props);
  return kOfxStatOK;
}
OfxStatus paramGetHandle(OfxParamSetHandle h, const char* name, OfxParamHandle* out, OfxPropertySetHandle* props) {
  if (!h || !name || !out) return kOfxStatErrBadHandle;
  auto it = pset(h)->params.find(name);
  if (it == pset(h)->params.end()) return kOfxStatErrUnknown;
  *out = reinterpret_cast<OfxParamHandle>(it->second.get());
  if (props) *props = reinterpret_cast<OfxPropertySetHandle>(&it->second->props);
  return kOfxStatOK;
}
OfxStatus paramSetGetPropertySet(OfxParamSetHandle h, OfxPropertySetHandle* out) {
  *out = reinterpret_cast<OfxPropertySetHandle>(&pset(h)->props);
  return kOfxStatOK;
}
OfxStatus paramGetPropertySet(OfxParamHandle h, OfxPropertySetHandle* out) {
  *out = reinterpret_cast<OfxPropertySetHandle>(&prm(h)->props);
  return kOfxStatOK;
}

bool is_int_param(const std::string& type) {
  return type == kOfxParamTypeInteger || type == kOfxParamTypeBoolean || type == kOfxParamTypeChoice;
}

OfxStatus get_value(Param* p, va_list args) {
  if (is_int_param(p->type)) *va_arg(args, int*) = p->int_value;
  else if (p->type == kOfxParamTypeDouble) *va_arg(args, double*) = p->double_value;
  else if (p->type == kOfxParamTypeString) *va_arg(args, const char**) = p->string_value.c_str();
  else return kOfxStatErrUnsupported;
  return kOfxStatOK;
}
OfxStatus set_value(Param* p, va_list args) {
  if (is_int_param(p->type)) p->int_value = va_arg(args, int);
  else if (p->type == kOfxParamTypeDouble) p->double_value = va_arg(args, double);
  else if (p->type == kOfxParamTypeString) p->string_value = va_arg(args, const char*);
  else return kOfxStatErrUnsupported;
  return kOfxStatOK;
}
OfxStatus paramGetValue(OfxParamHandle h, ...) {
  va_list args;
  va_start(args, h);
  OfxStatus s = h ? get_value(prm(h), args) : kOfxStatErrBadHandle;
  va_end(args);
  return s;
}
OfxStatus paramGetValueAtTime(OfxParamHandle h, OfxTime time, ...) {
  va_list args;
  va_start(args, time);
  OfxStatus s = h ? get_value(prm(h), args) : kOfxStatErrBadHandle;
  va_end(args);
  return s;
}
OfxStatus paramGetDerivative(OfxParamHandle, OfxTime, ...) { return kOfxStatErrUnsupported; }
OfxStatus paramGetIntegral(OfxParamHandle, OfxTime, OfxTime, ...) { return kOfxStatErrUnsupported; }
OfxStatus paramSetValue(OfxParamHandle h, ...) {
  va_list args;
  va_start(args, h);
  OfxStatus s = h ? set_value(prm(h), args) : kOfxStatErrBadHandle;
  va_end(args);
  return s;
}
OfxStatus paramSetValueAtTime(OfxParamHandle h, OfxTime time, ...) {
  va_list args;
  va_start(args, time);
  OfxStatus s = h ? set_value(prm(h), args) : kOfxStatErrBadHandle;
  va_end(args);
  return s;
}
OfxStatus paramGetNumKeys(OfxParamHandle, unsigned int* n) {
  *n = 0;
  return kOfxStatOK;
}
OfxStatus paramGetKeyTime(OfxParamHandle, unsigned int, OfxTime*) { return kOfxStatErrBadIndex; }
OfxStatus paramGetKeyIndex(OfxParamHandle, OfxTime, int, int*) { return kOfxStatFailed; }
OfxStatus paramDeleteKey(OfxParamHandle, OfxTime) { return kOfxStatErrBadIndex; }
OfxStatus paramDeleteAllKeys(OfxParamHandle) { return kOfxStatOK; }
OfxStatus paramCopy(OfxParamHandle, OfxParamHandle, OfxTime, const OfxRangeD*) { return kOfxStatErrUnsupported; }
OfxStatus paramEditBegin(OfxParamSetHandle, const char*) { return kOfxStatOK; }
OfxStatus paramEditEnd(OfxParamSetHandle) { return kOfxStatOK; }

const OfxParameterSuiteV1 kParameterSuite = {
    paramDefine,     paramGetHandle,   paramSetGetPropertySet, paramGetPropertySet, paramGetValue,
    paramGetValueAtTime, paramGetDerivative, paramGetIntegral, paramSetValue,     paramSetValueAtTime,
    paramGetNumKeys, paramGetKeyTime,  paramGetKeyIndex,       paramDeleteKey,      paramDeleteAllKeys,
    paramCopy,       paramEditBegin,   paramEditEnd};

// ---------------------------------------------------------------------------------
// Memory, multithread, message and progress suites

OfxStatus memoryAlloc(void*, size_t n, void** out) {
  *out = std::malloc(n ? n : 1);
  return *out ? kOfxStatOK : kOfxStatErrMemory;
}
OfxStatus memoryFree(void* p) {
  std::free(p);
  return kOfxStatOK;
}
const OfxMemorySuiteV1 kMemorySuite = {memoryAlloc, memoryFree};

thread_local unsigned t_thread_index = 0;
thread_local bool t_spawned = false;

OfxStatus multiThread(OfxThreadFunctionV1 func, unsigned n, void* arg) {
  if (!func) return kOfxStatErrBadHandle;
  if (n <= 1) {
    func(0, 1, arg);
    return kOfxStatOK;
  }
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i)
    threads.emplace_back([=] {
      t_thread_index = i;
      t_spawned = true;
      func(i, n, arg);
    });
  for (auto& t : threads) t.join();
  return kOfxStatOK;
}
OfxStatus multiThreadNumCPUs(unsigned* n) {
  *n = std::max(1u, std::thread::hardware_concurrency());
  return kOfxStatOK;
}
OfxStatus multiThreadIndex(unsigned* i) {
  *i = t_thread_index;
  return kOfxStatOK;
}
int multiThreadIsSpawnedThread() { return t_spawned ? 1 : 0; }
OfxStatus mutexCreate(OfxMutexHandle* m, int lock_count) {
  auto* mutex = new std::recursive_mutex;
  for (int i = 0; i < lock_count; ++i) mutex->lock();
  *m = reinterpret_cast<OfxMutexHandle>(mutex);
  return kOfxStatOK;
}
OfxStatus mutexDestroy(const OfxMutexHandle m) {
  delete reinterpret_cast<std::recursive_mutex*>(m);
  return kOfxStatOK;
}
OfxStatus mutexLock(const OfxMutexHandle m) {
  reinterpret_cast<std::recursive_mutex*>(m)->lock();
  return kOfxStatOK;
}
OfxStatus mutexUnLock(const OfxMutexHandle m) {
  reinterpret_cast<std::recursive_mutex*>(m)->unlock();
  return kOfxStatOK;
}
OfxStatus mutexTryLock(const OfxMutexHandle m) {
  return reinterpret_cast<std::recursive_mutex*>(m)->try_lock() ? kOfxStatOK : kOfxStatFailed;
}
const OfxMultiThreadSuiteV1 kMultiThreadSuite = {multiThread, multiThreadNumCPUs, multiThreadIndex,
                                                 multiThreadIsSpawnedThread, mutexCreate, mutexDestroy,
                                                 mutexLock, mutexUnLock, mutexTryLock};

HostOptions g_options;

std::string format_message(const char* format, va_list args) {
  if (!format) return {};
  if (!g_options.printf_arguments) {  // as Natron: %% works, every argument comes out blank
    std::string text;
    for (const char* c = format; *c; ++c) {
      if (*c != '%') {
        text += *c;
      } else if (c[1] == '%') {
        text += '%';
        ++c;
      } else {  // skip the conversion: flags, width, precision, length, then its letter
        ++c;
        while (*c && std::strchr("-+ #0123456789.*hlLqjzt", *c)) ++c;
        if (!*c) break;
      }
    }
    return text;
  }
  char buffer[8192];
  std::vsnprintf(buffer, sizeof buffer, format, args);
  return buffer;
}

void record(void* handle, Message m, bool persistent) {
  if (handle) {
    Effect* effect = reinterpret_cast<Effect*>(handle);
    std::lock_guard<std::mutex> lock(effect->log_mutex);
    if (persistent) effect->persistent = m.text;
    effect->messages.push_back(std::move(m));
  } else if (g_host_object) {
    g_host_object->log_host_message(m);
  }
}

OfxStatus message(void* handle, const char* type, const char* id, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::string text = format_message(format, args);
  va_end(args);
  record(handle, {type ? type : "", id ? id : "", text}, false);
  return kOfxStatOK;
}
OfxStatus setPersistentMessage(void* handle, const char* type, const char* id, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::string text = format_message(format, args);
  va_end(args);
  record(handle, {type ? type : "", id ? id : "", text}, true);
  return kOfxStatOK;
}
OfxStatus clearPersistentMessage(void* handle) {
  if (!handle) return kOfxStatErrBadHandle;
  Effect* effect = reinterpret_cast<Effect*>(handle);
  std::lock_guard<std::mutex> lock(effect->log_mutex);
  effect->persistent.clear();
  return kOfxStatOK;
}
const OfxMessageSuiteV1 kMessageSuiteV1 = {message};
const OfxMessageSuiteV2 kMessageSuiteV2 = {message, setPersistentMessage, clearPersistentMessage};

OfxStatus progressStart(void* handle, const char*, const char*) {
  Effect* effect = reinterpret_cast<Effect*>(handle);
  std::lock_guard<std::mutex> lock(effect->log_mutex);
  effect->progress.starts++;
  return kOfxStatOK;
}
OfxStatus progressStartV1(void* handle, const char* label) {
  {
    std::lock_guard<std::mutex> lock(reinterpret_cast<Effect*>(handle)->log_mutex);
    reinterpret_cast<Effect*>(handle)->progress.v1_starts++;
  }
  return progressStart(handle, label, nullptr);
}
OfxStatus progressUpdate(void* handle, double value) {
  Effect* effect = reinterpret_cast<Effect*>(handle);
  std::lock_guard<std::mutex> lock(effect->log_mutex);
  effect->progress.updates++;
  effect->progress.last = value;
  effect->progress.values.push_back(value);
  return kOfxStatOK;
}
OfxStatus progressEnd(void* handle) {
  Effect* effect = reinterpret_cast<Effect*>(handle);
  std::lock_guard<std::mutex> lock(effect->log_mutex);
  effect->progress.ends++;
  return kOfxStatOK;
}
const OfxProgressSuiteV1 kProgressSuiteV1 = {progressStartV1, progressUpdate, progressEnd};
const OfxProgressSuiteV2 kProgressSuiteV2 = {progressStart, progressUpdate, progressEnd};

PropertySet g_host_props;

const void* fetchSuite(OfxPropertySetHandle, const char* name, int version) {
  const std::string n = name ? name : "";
  if (n == kOfxPropertySuite && version == 1) return &kPropertySuite;
  if (n == kOfxImageEffectSuite && version == 1) return &kImageEffectSuite;
  if (n == kOfxParameterSuite && version == 1) return &kParameterSuite;
  if (n == kOfxMemorySuite && version == 1) return &kMemorySuite;
  if (n == kOfxMultiThreadSuite && version == 1) return &kMultiThreadSuite;
  if (n == kOfxMessageSuite && version == 1) return &kMessageSuiteV1;
  if (n == kOfxMessageSuite && version == 2 && g_options.message_v2) return &kMessageSuiteV2;
  if (n == kOfxProgressSuite && version == 1 && g_options.progress_v1) return &kProgressSuiteV1;
  if (n == kOfxProgressSuite && version == 2 && g_options.progress_v2) return &kProgressSuiteV2;
  return nullptr;
}

OfxHost g_ofx_host = {reinterpret_cast<OfxPropertySetHandle>(&g_host_props), fetchSuite};


}  // namespace

OfxHost* configure_host(Host* message_sink, const HostOptions& options) {
  g_host_object = message_sink;
  g_options = options;
  return &g_ofx_host;
}

PropertySet& host_properties() { return g_host_props; }

void release_host(Host* message_sink) {
  if (g_host_object == message_sink) g_host_object = nullptr;
}

bool param_holds_int(const std::string& type) { return is_int_param(type); }

int live_images() {
  std::lock_guard<std::mutex> lock(g_images_mutex);
  return static_cast<int>(g_live_images.size());
}

}  // namespace testhost
