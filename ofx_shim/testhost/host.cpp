#include "host.h"

#include <dlfcn.h>

#include <cstring>
#include <stdexcept>

#include "../ofx/ofx_names.h"
#include "suites.h"

namespace testhost {

namespace {

std::string binary_in_bundle(const std::string& bundle) {
  std::string name = bundle;
  while (!name.empty() && name.back() == '/') name.pop_back();
  auto slash = name.rfind('/');
  std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  const std::string suffix = ".bundle";
  if (base.size() > suffix.size() && base.compare(base.size() - suffix.size(), suffix.size(), suffix) == 0)
    base = base.substr(0, base.size() - suffix.size());  // Name.ofx
  return name + "/Contents/" DIP_ARCH_DIR "/" + base;
}

}  // namespace


// ---------------------------------------------------------------------------------
// Host

void Host::log_host_message(const Message& m) {
  std::lock_guard<std::mutex> lock(host_log_mutex_);
  host_messages_.push_back(m);
}

Host::Host(const std::string& bundle, HostOptions options) {
  OfxHost* ofx_host = configure_host(this, options);
  PropertySet& g_host_props = host_properties();
  g_host_props.set_string(kOfxPropName, {options.name});
  g_host_props.set_string(kOfxPropLabel, {"ofx_dipmatte test host"});
  g_host_props.set_string(kOfxImageEffectPropSupportedContexts,
                          {kOfxImageEffectContextGeneral, kOfxImageEffectContextFilter});
  g_host_props.set_string(kOfxImageEffectPropSupportedPixelDepths, {kOfxBitDepthByte, kOfxBitDepthShort, kOfxBitDepthFloat});
  g_host_props.set_string(kOfxImageEffectPropSupportedComponents,
                          {kOfxImageComponentRGBA, kOfxImageComponentRGB, kOfxImageComponentAlpha});
  g_host_props.set_int(kOfxImageEffectPropSupportsTiles, {0});
  g_host_props.set_int(kOfxImageEffectPropSupportsMultiResolution, {1});
  g_host_props.set_int(kOfxImageEffectPropTemporalClipAccess, {options.temporal_clip_access ? 1 : 0});
  g_host_props.set_int(kOfxImageEffectInstancePropSequentialRender, {2});
  g_host_props.set_int(kOfxImageEffectHostPropIsBackground, {0});

  const std::string binary = binary_in_bundle(bundle);
  library_ = dlopen(binary.c_str(), RTLD_NOW | RTLD_LOCAL);  // as real hosts do
  if (!library_) throw std::runtime_error("cannot load " + binary + ": " + dlerror());
  auto set_host = reinterpret_cast<OfxSetHostFn>(dlsym(library_, "OfxSetHost"));
  auto count = reinterpret_cast<OfxGetNumberOfPluginsFn>(dlsym(library_, "OfxGetNumberOfPlugins"));
  auto get = reinterpret_cast<OfxGetPluginFn>(dlsym(library_, "OfxGetPlugin"));
  if (!count || !get) throw std::runtime_error(binary + " does not export the OFX entry points");
  if (set_host && set_host(ofx_host) != kOfxStatOK) throw std::runtime_error("OfxSetHost refused this host");
  if (count() < 1) throw std::runtime_error(binary + " holds no plugin");
  plugin_ = get(0);
  if (!plugin_ || std::strcmp(plugin_->pluginApi, kOfxImageEffectPluginApi) != 0 ||
      plugin_->apiVersion != kOfxImageEffectPluginApiVersion)
    throw std::runtime_error(binary + ": not an image effect plugin of API version 1");
  plugin_->setHost(ofx_host);

  int status = call(kOfxActionLoad, nullptr, nullptr, nullptr);
  if (status != kOfxStatOK && status != kOfxStatReplyDefault)
    throw std::runtime_error("the Load action failed with status " + std::to_string(status));
  descriptor_.props.set_string(kOfxPluginPropFilePath, {bundle});
  status = call(kOfxActionDescribe, &descriptor_, nullptr, nullptr);
  if (status != kOfxStatOK) throw std::runtime_error("the Describe action failed with status " + std::to_string(status));
  for (int i = 0;; ++i) {
    std::string context = descriptor_.props.get_string(kOfxImageEffectPropSupportedContexts, i);
    if (context.empty()) break;
    auto desc = std::make_unique<Effect>();
    desc->props.set_string(kOfxPluginPropFilePath, {bundle});
    desc->props.set_string(kOfxImageEffectPropContext, {context});
    PropertySet in;
    in.set_string(kOfxImageEffectPropContext, {context});
    status = call(kOfxImageEffectActionDescribeInContext, desc.get(), &in, nullptr);
    if (status == kOfxStatErrMissingHostFeature) continue;
    if (status != kOfxStatOK)
      throw std::runtime_error("DescribeInContext(" + context + ") failed with status " + std::to_string(status));
    contexts_.push_back(context);
    context_descriptors_[context] = std::move(desc);
  }
}

Host::~Host() {
  std::map<int, std::unique_ptr<Effect>> instances;
  {
    std::lock_guard<std::mutex> lock(instances_mutex_);
    instances.swap(instances_);
  }
  for (auto& [id, effect] : instances) call(kOfxActionDestroyInstance, effect.get(), nullptr, nullptr);
  call(kOfxActionUnload, nullptr, nullptr, nullptr);
  release_host(this);
  // The binary stays mapped (plugins may keep threads or an interpreter alive).
}

int Host::call(const char* action, const void* handle, PropertySet* in, PropertySet* out) {
  return plugin_->mainEntry(action, handle, reinterpret_cast<OfxPropertySetHandle>(in),
                            reinterpret_cast<OfxPropertySetHandle>(out));
}

Effect& Host::context_descriptor(const std::string& context) {
  auto it = context_descriptors_.find(context);
  if (it == context_descriptors_.end()) throw std::runtime_error("the plugin does not support context " + context);
  return *it->second;
}

void Host::instantiate(Effect& instance, const Effect& descriptor) {
  instance.props.set_string(kOfxImageEffectPropContext, {descriptor.props.get_string(kOfxImageEffectPropContext)});
  instance.props.set_pointer(kOfxPropInstanceData, nullptr);
  instance.props.set_int(kOfxPropIsInteractive, {0});
  for (const auto& [name, def] : descriptor.params.params) {
    auto p = std::make_unique<Param>();
    p->type = def->type;
    {
      std::lock_guard<std::recursive_mutex> lock(def->props.mutex);
      p->props.values = def->props.values;
      auto d = def->props.values.find(kOfxParamPropDefault);
      if (d != def->props.values.end()) {
        if (!d->second.ints.empty()) p->int_value = d->second.ints[0];
        if (!d->second.doubles.empty()) p->double_value = d->second.doubles[0];
        if (!d->second.strings.empty()) p->string_value = d->second.strings[0];
      }
    }
    instance.params.params[name] = std::move(p);
  }
  for (const auto& [name, def] : descriptor.clips) {
    auto clip = std::make_unique<Clip>();
    clip->effect = &instance;
    clip->name = name;
    {
      std::lock_guard<std::recursive_mutex> lock(def->props.mutex);
      clip->props.values = def->props.values;
    }
    const bool optional = clip->props.get_int(kOfxImageClipPropOptional) != 0;
    clip->props.set_int(kOfxImageClipPropConnected, {optional ? 0 : 1});
    instance.clips[name] = std::move(clip);
  }
}

int Host::create_instance(const std::string& context) {
  auto instance = std::make_unique<Effect>();
  instantiate(*instance, context_descriptor(context));
  int status = call(kOfxActionCreateInstance, instance.get(), nullptr, nullptr);
  if (status != kOfxStatOK && status != kOfxStatReplyDefault)
    throw std::runtime_error("CreateInstance failed with status " + std::to_string(status));
  std::lock_guard<std::mutex> lock(instances_mutex_);
  int id = next_id_++;
  instances_[id] = std::move(instance);
  return id;
}

void Host::destroy_instance(int id) {
  std::unique_ptr<Effect> effect;
  {
    std::lock_guard<std::mutex> lock(instances_mutex_);
    auto it = instances_.find(id);
    if (it == instances_.end()) throw std::runtime_error("no instance " + std::to_string(id));
    effect = std::move(it->second);
    instances_.erase(it);
  }
  call(kOfxActionDestroyInstance, effect.get(), nullptr, nullptr);
}

Effect& Host::instance(int id) {
  std::lock_guard<std::mutex> lock(instances_mutex_);
  auto it = instances_.find(id);
  if (it == instances_.end()) throw std::runtime_error("no instance " + std::to_string(id));
  return *it->second;
}

void Host::connect(int id, const std::string& clip, bool connected) {
  Effect& effect = instance(id);
  auto it = effect.clips.find(clip);
  if (it == effect.clips.end()) throw std::runtime_error("no clip " + clip);
  it->second->props.set_int(kOfxImageClipPropConnected, {connected ? 1 : 0});
}

void Host::set_param(int id, const std::string& name, double value) {
  Effect& effect = instance(id);
  auto it = effect.params.params.find(name);
  if (it == effect.params.params.end()) throw std::runtime_error("no parameter " + name);
  if (param_holds_int(it->second->type)) it->second->int_value = static_cast<int>(value);
  else it->second->double_value = value;
}

void Host::set_image(int id, const std::string& clip, double time, ImageBuffer image) {
  Effect& effect = instance(id);
  auto it = effect.clips.find(clip);
  if (it == effect.clips.end()) throw std::runtime_error("no clip " + clip);
  it->second->images[time] = std::move(image);
  it->second->props.set_int(kOfxImageClipPropConnected, {1});
  // The clip's frame range: the first and last times it has an image for.
  it->second->props.set_double(kOfxImageEffectPropFrameRange,
                               {it->second->images.begin()->first, it->second->images.rbegin()->first});
}

int Host::render(int id, double time, double render_scale, const int* window, ImageBuffer* output) {
  Effect& effect = instance(id);
  std::lock_guard<std::mutex> serial(effect.render_mutex);
  Clip& source = *effect.clips.at(kOfxImageEffectSimpleSourceClipName);
  auto src = source.images.find(time);
  if (src == source.images.end()) throw std::runtime_error("no Source image at time " + std::to_string(time));

  // The host allocates the Output image over the Source's region of definition.
  ImageBuffer out;
  const int* ob = effect.output_bounds_set ? effect.output_bounds : src->second.bounds;
  std::copy(ob, ob + 4, out.bounds);
  out.depth = effect.output_depth;
  out.components = effect.output_components;
  const long width = out.bounds[2] - out.bounds[0], height = out.bounds[3] - out.bounds[1];
  const long row = width * channel_bytes(out.depth) * channel_count(out.components);
  out.bytes.assign(static_cast<size_t>(std::max(1L, row * height)), 0xCD);  // junk the plugin must overwrite
  out.row_bytes = static_cast<int>(effect.output_top_down ? -row : row);
  out.offset = effect.output_top_down ? row * (height - 1) : 0;
  const int out_bounds[4] = {out.bounds[0], out.bounds[1], out.bounds[2], out.bounds[3]};
  effect.clips.at(kOfxImageEffectOutputClipName)->images[0.0] = std::move(out);

  PropertySet in;
  in.set_double(kOfxPropTime, {time});
  in.set_double(kOfxImageEffectPropRenderScale, {render_scale, render_scale});
  const int* b = out_bounds;
  if (window) in.set_int(kOfxImageEffectPropRenderWindow, {window[0], window[1], window[2], window[3]});
  else in.set_int(kOfxImageEffectPropRenderWindow, {b[0], b[1], b[2], b[3]});
  in.set_string(kOfxImageEffectPropFieldToRender, {"OfxFieldNone"});
  in.set_int(kOfxImageEffectPropSequentialRenderStatus, {0});
  in.set_int(kOfxImageEffectPropInteractiveRenderStatus, {0});
  const int status = call(kOfxImageEffectActionRender, &effect, &in, nullptr);
  if (output) *output = effect.clips.at(kOfxImageEffectOutputClipName)->images.at(0.0);
  return status;
}

int Host::clip_preferences(int id, PropertySet& out) {
  return call(kOfxImageEffectActionGetClipPreferences, &instance(id), nullptr, &out);
}

int Host::frames_needed(int id, double time, PropertySet& out) {
  PropertySet in;
  in.set_double(kOfxPropTime, {time});
  return call(kOfxImageEffectActionGetFramesNeeded, &instance(id), &in, &out);
}

int Host::purge(int id) { return call(kOfxActionPurgeCaches, &instance(id), nullptr, nullptr); }

}  // namespace testhost
