// Host image buffers: reading their layout from the image property set, checking it,
// and copying pixels between the host's strided, bottom-up rows and the packed,
// top-down buffers the engine takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ofx/ofx_suites.h"

namespace dip {

struct HostImage {
  unsigned char* data = nullptr;
  OfxRectI bounds{0, 0, 0, 0};
  long row_bytes = 0;       // may be negative: rows run downwards in memory
  int channels = 0;         // 1 (Alpha), 3 (RGB), 4 (RGBA)
  int channel_bytes = 0;    // 1, 2 or 4
  const char* dtype = "";   // "uint8", "uint16", "float32"

  int width() const { return bounds.x2 - bounds.x1; }
  int height() const { return bounds.y2 - bounds.y1; }
  size_t pixel_bytes() const { return static_cast<size_t>(channels) * channel_bytes; }
};

// Largest image side and area we accept (16K plates fit; garbage does not).
constexpr int kMaxSide = 1 << 16;
constexpr long long kMaxPixels = 1LL << 28;

// Maps depth and component strings to a layout; false for anything we do not support.
bool pixel_layout(const std::string& depth, const std::string& components, int& channel_bytes, int& channels,
                  const char*& dtype);

// Reads and checks an image's properties. On failure `error` says what is wrong.
bool read_host_image(const OfxPropertySuiteV1* props, OfxPropertySetHandle image, HostImage& out,
                     std::string& error);

OfxRectI intersect(const OfxRectI& a, const OfxRectI& b);
bool contains(const OfxRectI& outer, const OfxRectI& inner);
bool empty(const OfxRectI& r);

// Copies `region` into packed top-down rows; its pixels outside image.bounds are zero
// (OFX: an image is black and transparent outside its bounds).
void pack_region(const HostImage& image, const OfxRectI& region, unsigned char* packed);

// Whether an RGBA image's alpha is anything but zero somewhere (false for RGB and Alpha).
bool alpha_holds_anything(const HostImage& image);

// Writes packed top-down rows covering `packed_region` into `image`, limited to
// `window`; the part of `window` outside `packed_region` is set to zero.
void unpack_region(const unsigned char* packed, const OfxRectI& packed_region, const OfxRectI& window,
                   HostImage& image);

}  // namespace dip
