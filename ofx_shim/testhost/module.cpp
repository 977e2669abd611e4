// The test host as a Python module, so pytest can hand numpy buffers through the OFX
// C ABI into the real plugin. Calls into the plugin release the GIL, as a host's
// render threads would not hold it.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "host.h"

namespace py = pybind11;
using testhost::Host;

namespace {

py::dict to_dict(const testhost::PropertySet& set) {
  py::dict d;
  std::lock_guard<std::recursive_mutex> lock(set.mutex);
  for (const auto& [name, p] : set.values) {
    py::list values;
    switch (p.type) {
      case testhost::Property::Int:
        for (int v : p.ints) values.append(v);
        break;
      case testhost::Property::Double:
        for (double v : p.doubles) values.append(v);
        break;
      case testhost::Property::String:
        for (const auto& v : p.strings) values.append(v);
        break;
      case testhost::Property::Pointer:
        for (void* v : p.pointers) values.append(reinterpret_cast<uintptr_t>(v));
        break;
    }
    d[py::str(name)] = values;
  }
  return d;
}

py::list messages(const std::vector<testhost::Message>& list) {
  py::list out;
  for (const auto& m : list) out.append(py::make_tuple(m.type, m.id, m.text));
  return out;
}

py::tuple image_tuple(const testhost::ImageBuffer& img) {
  return py::make_tuple(py::bytes(reinterpret_cast<const char*>(img.bytes.data()), img.bytes.size()), img.offset,
                        std::array<int, 4>{img.bounds[0], img.bounds[1], img.bounds[2], img.bounds[3]}, img.row_bytes,
                        img.depth, img.components);
}

}  // namespace

PYBIND11_MODULE(_testhost, m) {
  m.doc() = "A small OFX host for tests: loads a bundle and renders its plugin.";
  m.def("live_images", &testhost::live_images, "Images fetched by plugins and not yet released.");

  py::class_<Host>(m, "Host")
      .def(py::init([](const std::string& bundle, bool message_v2, bool progress_v1, bool progress_v2,
                       bool printf_arguments, const std::string& name, bool temporal_clip_access) {
             py::gil_scoped_release release;  // the plugin may start (or adopt) Python
             return std::make_unique<Host>(bundle, testhost::HostOptions{message_v2, progress_v1, progress_v2,
                                                                         printf_arguments, name,
                                                                         temporal_clip_access});
           }),
           py::arg("bundle"), py::arg("message_v2") = true, py::arg("progress_v1") = true,
           py::arg("progress_v2") = true, py::arg("printf_arguments") = true,
           py::arg("name") = "org.ofxdipmatte.testhost", py::arg("temporal_clip_access") = true)
      .def_property_readonly("contexts", &Host::contexts)
      .def("plugin_properties", [](Host& h) { return to_dict(h.plugin_props()); })
      .def("load_messages", [](Host& h) { return messages(h.load_messages()); })
      .def("clips",
           [](Host& h, const std::string& context) {
             py::dict d;
             for (const auto& [name, clip] : h.context_descriptor(context).clips) d[py::str(name)] = to_dict(clip->props);
             return d;
           })
      .def("params",
           [](Host& h, const std::string& context) {
             py::dict d;
             for (const auto& [name, p] : h.context_descriptor(context).params.params) {
               py::dict entry = to_dict(p->props);
               entry["type"] = p->type;
               d[py::str(name)] = entry;
             }
             return d;
           })
      .def("context_properties", [](Host& h, const std::string& context) { return to_dict(h.context_descriptor(context).props); })
      .def("create_instance",
           [](Host& h, const std::string& context) {
             py::gil_scoped_release release;
             return h.create_instance(context);
           })
      .def("destroy_instance",
           [](Host& h, int id) {
             py::gil_scoped_release release;
             h.destroy_instance(id);
           })
      .def("connect", &Host::connect)
      .def("set_param", &Host::set_param)
      .def("set_image",
           [](Host& h, int id, const std::string& clip, double time, py::bytes data, long offset,
              std::array<int, 4> bounds, int row_bytes, const std::string& depth, const std::string& components,
              bool null_data, const std::string& premultiplication) {
             testhost::ImageBuffer image;
             std::string bytes = data;
             image.bytes.assign(bytes.begin(), bytes.end());
             image.offset = offset;
             std::copy(bounds.begin(), bounds.end(), image.bounds);
             image.row_bytes = row_bytes;
             image.depth = depth;
             image.components = components;
             image.null_data = null_data;
             image.premultiplication = premultiplication;
             h.set_image(id, clip, time, std::move(image));
           },
           py::arg("id"), py::arg("clip"), py::arg("time"), py::arg("data"), py::arg("offset"), py::arg("bounds"),
           py::arg("row_bytes"), py::arg("depth"), py::arg("components"), py::arg("null_data") = false,
           py::arg("premultiplication") = "OfxImageUnPreMultiplied")
      .def("set_output_format",
           [](Host& h, int id, const std::string& depth, const std::string& components, bool top_down,
              std::optional<std::array<int, 4>> bounds) {
             auto& e = h.instance(id);
             e.output_depth = depth;
             e.output_components = components;
             e.output_top_down = top_down;
             e.output_bounds_set = bounds.has_value();
             if (bounds) std::copy(bounds->begin(), bounds->end(), e.output_bounds);
           },
           py::arg("id"), py::arg("depth"), py::arg("components"), py::arg("top_down") = false,
           py::arg("bounds") = py::none())
      .def("render",
           [](Host& h, int id, double time, double render_scale, std::optional<std::array<int, 4>> window) {
             py::gil_scoped_release release;
             return h.render(id, time, render_scale, window ? window->data() : nullptr);
           },
           py::arg("id"), py::arg("time"), py::arg("render_scale") = 1.0, py::arg("window") = py::none())
      .def("render_output",
           [](Host& h, int id, double time, double render_scale) {
             testhost::ImageBuffer out;
             int status;
             {
               py::gil_scoped_release release;
               status = h.render(id, time, render_scale, nullptr, &out);
             }
             return py::make_tuple(status, image_tuple(out));
           },
           py::arg("id"), py::arg("time"), py::arg("render_scale") = 1.0,
           "Render and return (status, the Output as output() gives it), atomically per instance.")
      .def("output",
           [](Host& h, int id) { return image_tuple(h.instance(id).clips.at("Output")->images.at(0.0)); },
           "The last Output image: (data, offset, bounds, row_bytes, depth, components).")
      .def("abort", [](Host& h, int id, bool flag) { h.instance(id).abort_flag = flag; })
      .def("messages",
           [](Host& h, int id) {
             auto& e = h.instance(id);
             std::lock_guard<std::mutex> lock(e.log_mutex);
             return messages(e.messages);
           })
      .def("persistent_message",
           [](Host& h, int id) {
             auto& e = h.instance(id);
             std::lock_guard<std::mutex> lock(e.log_mutex);
             return e.persistent;
           })
      .def("progress",
           [](Host& h, int id) {
             auto& e = h.instance(id);
             std::lock_guard<std::mutex> lock(e.log_mutex);
             py::dict d;
             d["starts"] = e.progress.starts;
             d["v1_starts"] = e.progress.v1_starts;
             d["updates"] = e.progress.updates;
             d["ends"] = e.progress.ends;
             d["last"] = e.progress.last;
             d["values"] = e.progress.values;
             return d;
           })
      .def("clip_preferences",
           [](Host& h, int id) {
             testhost::PropertySet out;
             int status;
             {
               py::gil_scoped_release release;
               status = h.clip_preferences(id, out);
             }
             return py::make_tuple(status, to_dict(out));
           })
      .def("frames_needed",
           [](Host& h, int id, double time) {
             testhost::PropertySet out;
             int status;
             {
               py::gil_scoped_release release;
               status = h.frames_needed(id, time, out);
             }
             return py::make_tuple(status, to_dict(out));
           })
      .def("fetched",
           [](Host& h, int id, const std::string& clip) {  // the times the plugin asked `clip` for
             return h.instance(id).clips.at(clip)->fetched;
           })
      .def("purge", [](Host& h, int id) {
        py::gil_scoped_release release;
        return h.purge(id);
      });
}
