// ofx-dipmatte-testhost: loads a bundle in a process with no Python of its own and
// renders a small synthetic frame (a soft disc and its trimap) end to end, so the
// real embedding path (libpython dlopen, isolated interpreter) is exercised.
//
//   ofx-dipmatte-testhost BUNDLE [--context general|filter] [--size N] [--frames N]
//                         [--iterations N] [--preset draft|balanced|paper]
//                         [--abort-after SECONDS] [--no-message-v2] [--no-progress-v2]
// Prints what happened, one `key: value` line at a time, and ends with `OK` (exit 0),
// `RENDER FAILED` (exit 1) or `LOAD FAILED` (exit 2).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../ofx/ofx_names.h"
#include "host.h"

namespace {

struct Options {
  std::string bundle, context = kOfxImageEffectContextGeneral, preset = "draft";
  int size = 48, frames = 1, iterations = 10;
  double abort_after = -1.0;
  testhost::HostOptions host;
};

int usage() {
  std::fprintf(stderr,
               "usage: ofx-dipmatte-testhost BUNDLE [--context general|filter] [--size N] [--frames N] "
               "[--iterations N] [--preset NAME] [--abort-after SECONDS] [--no-message-v2] [--no-progress-v2]\n");
  return 2;
}

testhost::ImageBuffer float_image(int size, int channels, const std::vector<float>& pixels) {
  testhost::ImageBuffer image;
  image.bounds[2] = image.bounds[3] = size;
  image.depth = kOfxBitDepthFloat;
  image.components = channels == 4 ? kOfxImageComponentRGBA : kOfxImageComponentAlpha;
  image.row_bytes = size * channels * 4;
  image.bytes.resize(pixels.size() * 4);
  std::memcpy(image.bytes.data(), pixels.data(), image.bytes.size());
  return image;
}

// A soft disc over a gradient, moving one pixel a frame; the trimap marks a band around its edge.
void synthetic_frame(int size, int frame, bool trimap_in_alpha, std::vector<float>& rgba, std::vector<float>& trimap) {
  rgba.assign(static_cast<size_t>(size) * size * 4, 0.f);
  trimap.assign(static_cast<size_t>(size) * size, 0.f);
  const double cx = size * 0.5 + frame, cy = size * 0.5, r = size * 0.3, band = std::max(2.0, size * 0.08);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const double d = std::hypot(x + 0.5 - cx, y + 0.5 - cy);
      const double a = std::min(1.0, std::max(0.0, r - d + 0.5));
      const size_t i = static_cast<size_t>(y) * size + x;
      const float bg[3] = {0.1f + 0.5f * x / size, 0.3f, 0.6f - 0.4f * y / size};
      const float fg[3] = {0.9f, 0.6f, 0.2f};
      for (int c = 0; c < 3; ++c) rgba[i * 4 + c] = static_cast<float>(a * fg[c] + (1 - a) * bg[c]);
      trimap[i] = d < r - band ? 1.f : d > r + band ? 0.f : 0.5f;
      rgba[i * 4 + 3] = trimap_in_alpha ? trimap[i] : 1.f;
    }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* value = nullptr;
    if (arg == "--context" && (value = next())) o.context = std::string("OfxImageEffectContext") +
                                                            (std::strcmp(value, "filter") == 0 ? "Filter" : "General");
    else if (arg == "--size" && (value = next())) o.size = std::atoi(value);
    else if (arg == "--frames" && (value = next())) o.frames = std::atoi(value);
    else if (arg == "--iterations" && (value = next())) o.iterations = std::atoi(value);
    else if (arg == "--preset" && (value = next())) o.preset = value;
    else if (arg == "--abort-after" && (value = next())) o.abort_after = std::atof(value);
    else if (arg == "--no-message-v2") o.host.message_v2 = false;
    else if (arg == "--no-progress-v2") o.host.progress_v2 = false;
    else if (!arg.empty() && arg[0] != '-' && o.bundle.empty()) o.bundle = arg;
    else return usage();
  }
  if (o.bundle.empty() || o.size < 1 || o.frames < 1) return usage();

  try {
    testhost::Host host(o.bundle, o.host);
    for (const auto& m : host.load_messages()) std::printf("load message: %s %s\n", m.type.c_str(), m.text.c_str());
    std::printf("plugin: %s\n", host.plugin_props().get_string(kOfxPropLabel).c_str());
    std::string contexts;
    for (const auto& c : host.contexts()) contexts += (contexts.empty() ? "" : ",") + c;
    std::printf("contexts: %s\n", contexts.c_str());

    const bool filter = o.context == kOfxImageEffectContextFilter;
    const int id = host.create_instance(o.context);
    const char* presets[] = {"draft", "balanced", "paper"};
    for (int p = 0; p < 3; ++p)
      if (o.preset == presets[p]) host.set_param(id, "preset", p);
    host.set_param(id, "maxIterations", o.iterations);
    if (!filter) host.set_param(id, "trimapSource", 0);

    int failures = 0;
    for (int frame = 0; frame < o.frames; ++frame) {
      std::vector<float> rgba, trimap;
      synthetic_frame(o.size, frame, filter, rgba, trimap);
      host.set_image(id, kOfxImageEffectSimpleSourceClipName, frame, float_image(o.size, 4, rgba));
      if (!filter) host.set_image(id, "Trimap", frame, float_image(o.size, 1, trimap));

      std::thread aborter;
      if (o.abort_after >= 0)
        aborter = std::thread([&] {
          std::this_thread::sleep_for(std::chrono::duration<double>(o.abort_after));
          host.instance(id).abort_flag = true;
        });
      const auto start = std::chrono::steady_clock::now();
      const int status = host.render(id, frame, 1.0, nullptr);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (aborter.joinable()) aborter.join();
      host.instance(id).abort_flag = false;

      std::printf("frame %d: status %d, %.3f s\n", frame, status, seconds);
      if (status != kOfxStatOK) {
        ++failures;
        continue;
      }
      const auto& out = host.instance(id).clips.at("Output")->images.at(0.0);
      const float* px = reinterpret_cast<const float*>(out.bytes.data() + out.offset);
      double lo = 1e9, hi = -1e9, unknown_sum = 0;
      int unknown = 0;
      for (size_t i = 0; i < trimap.size(); ++i) {
        const double a = px[i * 4 + 3];
        lo = std::min(lo, a);
        hi = std::max(hi, a);
        if (trimap[i] == 0.5f) unknown_sum += a, ++unknown;
      }
      std::printf("frame %d: alpha min %.4f max %.4f, mean in unknown band %.4f\n", frame, lo, hi,
                  unknown ? unknown_sum / unknown : 0.0);
    }
    const auto& inst = host.instance(id);
    for (const auto& m : inst.messages) std::printf("message: %s %s\n", m.type.c_str(), m.text.c_str());
    if (!inst.persistent.empty()) std::printf("persistent message: %s\n", inst.persistent.c_str());
    std::printf("progress: %d starts (%d through V1), %d updates, %d ends\n", inst.progress.starts,
                inst.progress.v1_starts, inst.progress.updates, inst.progress.ends);
    std::printf("unreleased images: %d\n", testhost::live_images());
    host.destroy_instance(id);
    std::printf("%s\n", failures ? "RENDER FAILED" : "OK");
    std::fflush(stdout);
    return failures ? 1 : 0;
  } catch (std::exception& e) {
    std::printf("error: %s\nLOAD FAILED\n", e.what());
    return 2;
  }
}
