// Frames moved by an affine motion (python/ofx_dipmatte/engine/frame_warp.py, sample):
// output pixel p = (row, column) holds the input's value at matrix·p + offset, read
// bilinear or bicubic (Keys' cubic convolution, a = −0.75, the kernel torch's grid_sample
// uses), and beyond the picture either the nearest edge pixel (each tap clamped, as
// grid_sample's "border" does) or a given value. It replaces torch's sampler so that a
// classical solve of a moving shot never imports torch into the caller's process (a
// host's). Coordinates and weights in double, each channel's sum in double.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::array from a sequence

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>

namespace py = pybind11;

namespace {

using Floats = py::array_t<float, py::array::c_style | py::array::forcecast>;

constexpr double kCubicA = -0.75;

// Keys' weights of the taps at −1, 0, 1, 2 for a reading t ∈ [0, 1) past tap 0.
std::array<double, 4> cubic_weights(double t) {
    auto near = [](double x) { return ((kCubicA + 2.0) * x - (kCubicA + 3.0)) * x * x + 1.0; };  // |x| ≤ 1
    auto far = [](double x) { return ((kCubicA * x - 5.0 * kCubicA) * x + 8.0 * kCubicA) * x - 4.0 * kCubicA; };
    return {far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)};
}

// The input (H×W×C, C channels interleaved) read at the taps of one output pixel.
struct Plane {
    const float* data;
    std::int64_t height, width, channels;
    std::optional<float> outside;  // none: clamp to the edge

    // Value of channel c at integer (y, x), beyond the picture per `outside`.
    double at(std::int64_t y, std::int64_t x, std::int64_t c) const {
        if (y < 0 || y >= height || x < 0 || x >= width) {
            if (outside) return *outside;
            y = std::clamp<std::int64_t>(y, 0, height - 1);
            x = std::clamp<std::int64_t>(x, 0, width - 1);
        }
        return data[(y * width + x) * channels + c];
    }
};

// A reading far beyond the picture reads what one just beyond it does (every tap clamped to
// the same edge, or all beyond it): clamped so, coordinates convert to integers safely, and a
// NaN one reads as beyond the first row or column.
double within_reach(double v, std::int64_t size) { return std::isnan(v) ? -4.0 : std::clamp(v, -4.0, size + 3.0); }

void bilinear(const Plane& in, double y, double x, float* out) {
    if (!in.outside) {  // "border": the reading itself is clamped onto the picture
        y = std::clamp(y, 0.0, double(in.height - 1));
        x = std::clamp(x, 0.0, double(in.width - 1));
    }
    const double fy = std::floor(y), fx = std::floor(x), ty = y - fy, tx = x - fx;
    const auto y0 = std::int64_t(fy), x0 = std::int64_t(fx);
    for (std::int64_t c = 0; c < in.channels; ++c) {
        const double top = in.at(y0, x0, c) * (1.0 - tx) + in.at(y0, x0 + 1, c) * tx;
        const double bottom = in.at(y0 + 1, x0, c) * (1.0 - tx) + in.at(y0 + 1, x0 + 1, c) * tx;
        out[c] = float(top * (1.0 - ty) + bottom * ty);
    }
}

void bicubic(const Plane& in, double y, double x, float* out) {
    const double fy = std::floor(y), fx = std::floor(x);
    const auto wy = cubic_weights(y - fy), wx = cubic_weights(x - fx);
    const auto y0 = std::int64_t(fy) - 1, x0 = std::int64_t(fx) - 1;
    for (std::int64_t c = 0; c < in.channels; ++c) {
        double sum = 0.0;
        for (int i = 0; i < 4; ++i) {
            double row = 0.0;
            for (int j = 0; j < 4; ++j) row += wx[j] * in.at(y0 + i, x0 + j, c);
            sum += wy[i] * row;
        }
        out[c] = float(sum);
    }
}

// values: H×W×C float32. Output pixel (r, k) reads at (a r + b k + o_row, c r + d k + o_col).
py::array_t<float> sample_affine(const Floats& values, std::array<double, 4> matrix, std::array<double, 2> offset,
                                 bool cubic, std::optional<float> outside) {
    if (values.ndim() != 3 || values.shape(0) < 1 || values.shape(1) < 1 || values.shape(2) < 1)
        throw std::invalid_argument("sample_affine: an H×W×C float32 array with H, W, C ≥ 1");
    const Plane in{values.data(), values.shape(0), values.shape(1), values.shape(2), outside};
    py::array_t<float> result({in.height, in.width, in.channels});
    float* out = result.mutable_data();
    const auto [a, b, c, d] = matrix;
    {
        py::gil_scoped_release release;
        for (std::int64_t r = 0; r < in.height; ++r) {
            for (std::int64_t k = 0; k < in.width; ++k) {
                const double y = within_reach(a * double(r) + b * double(k) + offset[0], in.height);
                const double x = within_reach(c * double(r) + d * double(k) + offset[1], in.width);
                float* pixel = out + (r * in.width + k) * in.channels;
                cubic ? bicubic(in, y, x, pixel) : bilinear(in, y, x, pixel);
            }
        }
    }
    return result;
}

}  // namespace

PYBIND11_MODULE(_frame_warp, m) {
    m.doc() = "Frames resampled by an affine motion, bilinear or bicubic (kernels/frame_warp.cpp).";
    m.def("sample_affine", &sample_affine, py::arg("values"), py::arg("matrix"), py::arg("offset"),
          py::arg("cubic"), py::arg("outside") = py::none(),
          "values (H×W×C float32) read at matrix·p + offset for every pixel p = (row, column): "
          "bicubic (Keys, a = −0.75) or bilinear; beyond the picture `outside`, or the nearest "
          "edge pixel where None. H×W×C float32.");
}
