#include "host_image.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "ofx/ofx_names.h"

namespace dip {

bool pixel_layout(const std::string& depth, const std::string& components, int& channel_bytes, int& channels,
                  const char*& dtype) {
  if (depth == kOfxBitDepthByte) {
    channel_bytes = 1;
    dtype = "uint8";
  } else if (depth == kOfxBitDepthShort) {
    channel_bytes = 2;
    dtype = "uint16";
  } else if (depth == kOfxBitDepthFloat) {
    channel_bytes = 4;
    dtype = "float32";
  } else {
    return false;
  }
  if (components == kOfxImageComponentRGBA) channels = 4;
  else if (components == kOfxImageComponentRGB) channels = 3;
  else if (components == kOfxImageComponentAlpha) channels = 1;
  else return false;
  return true;
}

bool read_host_image(const OfxPropertySuiteV1* props, OfxPropertySetHandle image, HostImage& out,
                     std::string& error) {
  void* data = nullptr;
  char* depth = nullptr;
  char* components = nullptr;
  int row_bytes = 0;
  int bounds[4] = {0, 0, 0, 0};
  if (props->propGetPointer(image, kOfxImagePropData, 0, &data) != kOfxStatOK ||
      props->propGetString(image, kOfxImageEffectPropPixelDepth, 0, &depth) != kOfxStatOK ||
      props->propGetString(image, kOfxImageEffectPropComponents, 0, &components) != kOfxStatOK ||
      props->propGetInt(image, kOfxImagePropRowBytes, 0, &row_bytes) != kOfxStatOK ||
      props->propGetIntN(image, kOfxImagePropBounds, 4, bounds) != kOfxStatOK) {
    error = "the host gave an image without its data, depth, components, row bytes or bounds";
    return false;
  }
  if (data == nullptr) {
    error = "the host gave an image with no pixel data";
    return false;
  }
  std::string depth_s = depth ? depth : "", components_s = components ? components : "";
  if (!pixel_layout(depth_s, components_s, out.channel_bytes, out.channels, out.dtype)) {
    error = "unsupported pixel format " + depth_s + " / " + components_s +
            ": use 8-bit, 16-bit or 32-bit float images with RGBA, RGB or Alpha channels";
    return false;
  }
  out.data = static_cast<unsigned char*>(data);
  out.bounds = {bounds[0], bounds[1], bounds[2], bounds[3]};
  out.row_bytes = row_bytes;
  long long w = static_cast<long long>(bounds[2]) - bounds[0];
  long long h = static_cast<long long>(bounds[3]) - bounds[1];
  if (w < 1 || h < 1 || w > kMaxSide || h > kMaxSide || w * h > kMaxPixels) {
    error = "image bounds (" + std::to_string(bounds[0]) + "," + std::to_string(bounds[1]) + ")-(" +
            std::to_string(bounds[2]) + "," + std::to_string(bounds[3]) + ") are empty or larger than " +
            std::to_string(kMaxSide) + " pixels a side";
    return false;
  }
  if (std::llabs(static_cast<long long>(row_bytes)) < w * static_cast<long long>(out.pixel_bytes())) {
    error = "image row bytes " + std::to_string(row_bytes) + " are fewer than one row of pixels (" +
            std::to_string(w * static_cast<long long>(out.pixel_bytes())) + ")";
    return false;
  }
  return true;
}

OfxRectI intersect(const OfxRectI& a, const OfxRectI& b) {
  OfxRectI r{std::max(a.x1, b.x1), std::max(a.y1, b.y1), std::min(a.x2, b.x2), std::min(a.y2, b.y2)};
  if (r.x2 < r.x1) r.x2 = r.x1;
  if (r.y2 < r.y1) r.y2 = r.y1;
  return r;
}

bool contains(const OfxRectI& outer, const OfxRectI& inner) {
  return inner.x1 >= outer.x1 && inner.y1 >= outer.y1 && inner.x2 <= outer.x2 && inner.y2 <= outer.y2;
}

bool empty(const OfxRectI& r) { return r.x2 <= r.x1 || r.y2 <= r.y1; }

namespace {
// The host address of pixel (x, y): rows are bottom-up from bounds.y1, rowBytes apart.
unsigned char* pixel_address(const HostImage& image, int x, int y) {
  return image.data + static_cast<long long>(y - image.bounds.y1) * image.row_bytes +
         static_cast<long long>(x - image.bounds.x1) * static_cast<long long>(image.pixel_bytes());
}
}  // namespace

void pack_region(const HostImage& image, const OfxRectI& region, unsigned char* packed) {
  const size_t px = image.pixel_bytes();
  const size_t row = static_cast<size_t>(region.x2 - region.x1) * px;
  const OfxRectI held = intersect(region, image.bounds);
  for (int y = region.y2 - 1; y >= region.y1; --y, packed += row) {  // top row first
    if (y < held.y1 || y >= held.y2 || empty(held)) {
      std::memset(packed, 0, row);
      continue;
    }
    const size_t left = static_cast<size_t>(held.x1 - region.x1) * px;
    const size_t inside = static_cast<size_t>(held.x2 - held.x1) * px;
    std::memset(packed, 0, left);
    std::memcpy(packed + left, pixel_address(image, held.x1, y), inside);
    std::memset(packed + left + inside, 0, row - left - inside);
  }
}

bool alpha_holds_anything(const HostImage& image) {
  if (image.channels != 4) return false;
  const size_t px = image.pixel_bytes(), at = 3 * static_cast<size_t>(image.channel_bytes);
  for (int y = image.bounds.y1; y < image.bounds.y2; ++y) {
    const unsigned char* p = pixel_address(image, image.bounds.x1, y) + at;
    for (int x = image.bounds.x1; x < image.bounds.x2; ++x, p += px)
      for (int b = 0; b < image.channel_bytes; ++b)
        if (p[b] != 0) return true;
  }
  return false;
}

void unpack_region(const unsigned char* packed, const OfxRectI& packed_region, const OfxRectI& window,
                   HostImage& image) {
  const OfxRectI target = intersect(window, image.bounds);
  const OfxRectI copied = intersect(target, packed_region);
  const size_t px = image.pixel_bytes();
  const size_t packed_row = static_cast<size_t>(packed_region.x2 - packed_region.x1) * px;
  auto zero = [&](int y, int x1, int x2) {
    if (x2 > x1) std::memset(pixel_address(image, x1, y), 0, static_cast<size_t>(x2 - x1) * px);
  };
  for (int y = target.y1; y < target.y2; ++y) {
    if (y < copied.y1 || y >= copied.y2 || empty(copied)) {  // no solved pixels on this row
      zero(y, target.x1, target.x2);
      continue;
    }
    zero(y, target.x1, copied.x1);
    const unsigned char* src = packed + static_cast<size_t>(packed_region.y2 - 1 - y) * packed_row +
                               static_cast<size_t>(copied.x1 - packed_region.x1) * px;
    std::memcpy(pixel_address(image, copied.x1, y), src, static_cast<size_t>(copied.x2 - copied.x1) * px);
    zero(y, copied.x2, target.x2);
  }
}

}  // namespace dip
