// ofx-dipmatte-testhost: loads a bundle in a process with no Python of its own and
// renders a small synthetic frame (a soft disc and its trimap) end to end, so the
// real embedding path (libpython dlopen, isolated interpreter) is exercised.
//
//   ofx-dipmatte-testhost BUNDLE [--context general|filter] [--size N] [--frames N]
//                         [--iterations N] [--preset draft|balanced|paper|dip] [--engine auto|in_process|worker]
//                         [--depth byte|short|float] [--dump FILE] [--abort-after SECONDS]
//                         [--no-message-v2] [--no-progress-v2] [--no-printf-arguments] [--host-name NAME]
// --depth takes a comma-separated list (a new instance each); --dump writes the last
// frame's Output pixels of each depth (packed rows, bottom row first) to FILE.DEPTH.
// Prints what happened, one `key: value` line at a time, and ends with `OK` (exit 0),
// `RENDER FAILED` (exit 1) or `LOAD FAILED` (exit 2).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../ofx/ofx_names.h"
#include "host.h"

namespace {

struct Options {
  std::string bundle, context = kOfxImageEffectContextGeneral, preset = "draft", engine, depth = "float", dump;
  int size = 48, frames = 1, iterations = 10;
  double abort_after = -1.0;
  testhost::HostOptions host;
};

// The Quality choice's index of a preset name (the plugin's order, ofx_shim/params.h); -1: none.
int preset_index(const std::string& name) {
  const char* const presets[] = {"draft", "balanced", "paper", "dip"};
  for (int p = 0; p < 4; ++p)
    if (name == presets[p]) return p;
  return -1;
}

int usage() {
  std::fprintf(stderr,
               "usage: ofx-dipmatte-testhost BUNDLE [--context general|filter] [--size N] [--frames N] "
               "[--iterations N] [--preset draft|balanced|paper|dip] [--engine auto|in_process|worker] [--depth byte|short|float] "
               "[--dump FILE] [--abort-after SECONDS] [--no-message-v2] [--no-progress-v2] "
               "[--no-printf-arguments] [--host-name NAME]\n");
  return 2;
}

const char* depth_name(const std::string& depth) {
  return depth == "byte" ? kOfxBitDepthByte : depth == "short" ? kOfxBitDepthShort : kOfxBitDepthFloat;
}

// 0–1 floats as an image of `depth` (byte, short or float).
testhost::ImageBuffer make_image(int size, int channels, const std::vector<float>& pixels, const std::string& depth) {
  testhost::ImageBuffer image;
  image.bounds[2] = image.bounds[3] = size;
  image.depth = depth_name(depth);
  image.components = channels == 4 ? kOfxImageComponentRGBA : kOfxImageComponentAlpha;
  const int bytes = testhost::channel_bytes(image.depth);
  image.row_bytes = size * channels * bytes;
  image.bytes.resize(pixels.size() * bytes);
  for (size_t i = 0; i < pixels.size(); ++i) {
    const float v = pixels[i];
    if (bytes == 4) {
      std::memcpy(image.bytes.data() + i * 4, &v, 4);
    } else if (bytes == 2) {
      const uint16_t q = static_cast<uint16_t>(std::lround(std::clamp(v, 0.f, 1.f) * 65535.f));
      std::memcpy(image.bytes.data() + i * 2, &q, 2);
    } else {
      image.bytes[i] = static_cast<unsigned char>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f));
    }
  }
  return image;
}

// The Output's alpha at pixel i (RGBA, any depth) as 0–1.
double output_alpha(const testhost::ImageBuffer& out, size_t i) {
  const unsigned char* p = out.bytes.data() + out.offset;
  const int bytes = testhost::channel_bytes(out.depth);
  if (bytes == 4) {
    float v;
    std::memcpy(&v, p + (i * 4 + 3) * 4, 4);
    return v;
  }
  if (bytes == 2) {
    uint16_t v;
    std::memcpy(&v, p + (i * 4 + 3) * 2, 2);
    return v / 65535.0;
  }
  return p[i * 4 + 3] / 255.0;
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

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

// Renders o.frames frames of `depth` on instance `id`, printing a line each; returns the failures.
int render_frames(testhost::Host& host, int id, const Options& o, const std::string& depth, bool filter) {
  int failures = 0;
  for (int frame = 0; frame < o.frames; ++frame) {
    std::vector<float> rgba, trimap;
    synthetic_frame(o.size, frame, filter, rgba, trimap);
    host.set_image(id, kOfxImageEffectSimpleSourceClipName, frame, make_image(o.size, 4, rgba, depth));
    if (!filter) host.set_image(id, "Trimap", frame, make_image(o.size, 1, trimap, depth));

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

    std::printf("frame %d (%s): status %d, %.3f s\n", frame, depth.c_str(), status, seconds);
    std::fflush(stdout);
    if (status != kOfxStatOK) {
      ++failures;
      continue;
    }
    const auto& out = host.instance(id).clips.at("Output")->images.at(0.0);
    if (!o.dump.empty()) {
      std::FILE* f = std::fopen((o.dump + "." + depth).c_str(), "wb");
      const size_t row = static_cast<size_t>(o.size) * 4 * testhost::channel_bytes(out.depth);
      for (int y = 0; f && y < o.size; ++y) std::fwrite(out.bytes.data() + out.offset + y * out.row_bytes, 1, row, f);
      if (f) std::fclose(f);
    }
    double lo = 1e9, hi = -1e9, unknown_sum = 0;
    int unknown = 0;
    for (size_t i = 0; i < trimap.size(); ++i) {
      const double a = output_alpha(out, i);
      lo = std::min(lo, a);
      hi = std::max(hi, a);
      if (trimap[i] == 0.5f) unknown_sum += a, ++unknown;
    }
    std::printf("frame %d: alpha min %.4f max %.4f, mean in unknown band %.4f\n", frame, lo, hi,
                unknown ? unknown_sum / unknown : 0.0);
  }
  return failures;
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
    else if (arg == "--no-printf-arguments") o.host.printf_arguments = false;
    else if (arg == "--host-name" && (value = next())) o.host.name = value;
    else if (arg == "--engine" && (value = next())) o.engine = value;
    else if (arg == "--depth" && (value = next())) o.depth = value;
    else if (arg == "--dump" && (value = next())) o.dump = value;
    else if (!arg.empty() && arg[0] != '-' && o.bundle.empty()) o.bundle = arg;
    else return usage();
  }
  if (o.bundle.empty() || o.size < 1 || o.frames < 1) return usage();
  if (preset_index(o.preset) < 0) return usage();

  try {
    std::printf("host pid: %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    testhost::Host host(o.bundle, o.host);
    for (const auto& m : host.load_messages()) std::printf("load message: %s %s\n", m.type.c_str(), m.text.c_str());
    std::printf("plugin: %s\n", host.plugin_props().get_string(kOfxPropLabel).c_str());
    std::string contexts;
    for (const auto& c : host.contexts()) contexts += (contexts.empty() ? "" : ",") + c;
    std::printf("contexts: %s\n", contexts.c_str());

    const bool filter = o.context == kOfxImageEffectContextFilter;
    int failures = 0;
    for (const std::string& depth : split(o.depth)) {  // a new instance per depth
      const int id = host.create_instance(o.context);
      host.set_param(id, "preset", preset_index(o.preset));
      host.set_param(id, "maxIterations", o.iterations);
      if (!filter) host.set_param(id, "trimapSource", 0);
      const char* engines[] = {"auto", "in_process", "worker"};
      for (int e = 0; e < 3; ++e)
        if (o.engine == engines[e]) host.set_param(id, "engine", e);
      host.instance(id).output_depth = depth_name(depth);
      failures += render_frames(host, id, o, depth, filter);
      const auto& inst = host.instance(id);
      for (const auto& m : inst.messages) std::printf("message: %s %s\n", m.type.c_str(), m.text.c_str());
      if (!inst.persistent.empty()) std::printf("persistent message: %s\n", inst.persistent.c_str());
      std::printf("progress: %d starts (%d through V1), %d updates, %d ends\n", inst.progress.starts,
                  inst.progress.v1_starts, inst.progress.updates, inst.progress.ends);
      host.destroy_instance(id);
    }
    std::printf("unreleased images: %d\n", testhost::live_images());
    std::printf("%s\n", failures ? "RENDER FAILED" : "OK");
    std::fflush(stdout);
    return failures ? 1 : 0;
  } catch (std::exception& e) {
    std::printf("error: %s\nLOAD FAILED\n", e.what());
    return 2;
  }
}
