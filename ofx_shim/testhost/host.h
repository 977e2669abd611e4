// A small OFX host for tests and `ofx-dipmatte doctor`: it loads a bundle the way real
// hosts do (dlopen RTLD_LOCAL, OfxSetHost, OfxGetPlugin, Load, Describe,
// DescribeInContext), implements the property, image-effect, parameter, memory,
// multithread, message and progress suites, and renders instances on any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../ofx/ofx_suites.h"

namespace testhost {

struct Property {
  enum Type { Int, Double, String, Pointer } type = Int;
  std::vector<int> ints;
  std::vector<double> doubles;
  std::vector<std::string> strings;
  std::vector<void*> pointers;
};

// Handles given to the plugin point at these objects.
struct PropertySet {
  std::map<std::string, Property> values;
  mutable std::recursive_mutex mutex;

  void set_int(const std::string& name, std::vector<int> v);
  void set_double(const std::string& name, std::vector<double> v);
  void set_string(const std::string& name, std::vector<std::string> v);
  void set_pointer(const std::string& name, void* v);
  int get_int(const std::string& name, int index = 0, int fallback = 0) const;
  std::string get_string(const std::string& name, int index = 0) const;
};

struct Param {
  std::string type;
  PropertySet props;
  int int_value = 0;
  double double_value = 0.0;
  std::string string_value;
};

struct ParamSet {
  std::map<std::string, std::unique_ptr<Param>> params;
  PropertySet props;
};

struct ImageBuffer {
  std::vector<unsigned char> bytes;
  long offset = 0;  // where the data pointer points (the bottom-left pixel)
  int bounds[4] = {0, 0, 0, 0};
  int row_bytes = 0;
  std::string depth, components;
  std::string premultiplication = "OfxImageUnPreMultiplied";
  bool null_data = false;
};

struct Effect;

struct Clip {
  Effect* effect = nullptr;
  std::string name;
  PropertySet props;
  std::map<double, ImageBuffer> images;  // inputs by time; the Output holds its last render at key 0
  std::vector<double> fetched;             // the times the plugin asked for (clipGetImage), in order
};

struct Message {
  std::string type, id, text;
};

struct ProgressLog {
  int starts = 0, updates = 0, ends = 0;
  int v1_starts = 0;  // of which through progress suite V1
  double last = 0.0;
  std::vector<double> values;  // every update, in order
};

struct Effect {  // a descriptor (per context) or an instance
  PropertySet props;
  ParamSet params;
  std::map<std::string, std::unique_ptr<Clip>> clips;
  std::atomic<bool> abort_flag{false};
  std::mutex render_mutex;  // honours the plugin's "instance safe" render threading
  std::mutex log_mutex;
  std::vector<Message> messages;
  std::string persistent;
  ProgressLog progress;
  // Output layout the host offers: depth, components and whether rows run top-down.
  std::string output_depth = "OfxBitDepthFloat", output_components = "OfxImageComponentRGBA";
  bool output_top_down = false;
  // The Output's bounds; when unset it follows the Source image's bounds.
  bool output_bounds_set = false;
  int output_bounds[4] = {0, 0, 0, 0};
};

// Which optional suites the host offers, and host behaviours seen in real hosts, to
// play them: Fusion has no message suite V2; old hosts only progress V1; Natron drops
// the arguments of message formats (it passes a va_list on as one `...` argument);
// plugins may behave differently by host name (MLT).
struct HostOptions {
  bool message_v2 = true;
  bool progress_v1 = true;
  bool progress_v2 = true;
  bool printf_arguments = true;
  std::string name = "org.ofxdipmatte.testhost";
  bool temporal_clip_access = true;  // MLT: no (its clipGetImage gives the current frame at any time)
};

class Host {
 public:
  // Loads the bundle (…/Name.ofx.bundle) and describes its first plugin. Throws
  // std::runtime_error with the reason when the binary cannot be loaded.
  explicit Host(const std::string& bundle, HostOptions options = {});
  ~Host();

  const std::vector<std::string>& contexts() const { return contexts_; }
  PropertySet& plugin_props() { return descriptor_.props; }
  Effect& context_descriptor(const std::string& context);
  const std::vector<Message>& load_messages() const { return host_messages_; }

  int create_instance(const std::string& context);
  void destroy_instance(int id);
  Effect& instance(int id);
  void connect(int id, const std::string& clip, bool connected);
  void set_param(int id, const std::string& name, double value);
  void set_image(int id, const std::string& clip, double time, ImageBuffer image);
  // Calls Render over the whole Source frame (or `window`); returns the plugin's status
  // and, when `output` is given, a copy of the Output image taken before another
  // render of the instance can replace it.
  int render(int id, double time, double render_scale, const int* window, ImageBuffer* output = nullptr);
  int clip_preferences(int id, PropertySet& out);
  int frames_needed(int id, double time, PropertySet& out);
  int purge(int id);

  // Called by the suites.
  void log_host_message(const Message& m);

 private:
  int call(const char* action, const void* handle, PropertySet* in, PropertySet* out);
  void instantiate(Effect& instance, const Effect& descriptor);

  void* library_ = nullptr;
  OfxPlugin* plugin_ = nullptr;
  Effect descriptor_;
  std::map<std::string, std::unique_ptr<Effect>> context_descriptors_;
  std::vector<std::string> contexts_;
  std::mutex instances_mutex_;
  std::map<int, std::unique_ptr<Effect>> instances_;
  int next_id_ = 1;
  std::mutex host_log_mutex_;
  std::vector<Message> host_messages_;
};

// Bytes per channel and channels for a depth / components pair (0 when unknown).
int channel_bytes(const std::string& depth);
int channel_count(const std::string& components);

// Images fetched by plugins and not yet released (a plugin must release them all).
int live_images();

}  // namespace testhost
