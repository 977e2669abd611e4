// The sums behind a clean plate's exposure match (python/ofx_dipmatte/engine/clean_plate.py,
// exposure_line and PlateStack.disagreement): per channel over the pixels a mask holds,
// without gathering them. numpy gathered every masked pixel of two frames into new arrays
// before summing (a frame's background: most of it), three times a warm frame: 0.4 s of a
// 1080p frame whose band is thin. Sums in double, pixel after pixel.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::array from a sequence of three

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace {

using Floats = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Flags = py::array_t<bool, py::array::c_style | py::array::forcecast>;

void check(const Floats& a, const Floats& b, const Flags& mask, const char* what) {
    if (a.ndim() != 3 || a.shape(2) != 3 || b.ndim() != 3 || mask.ndim() != 2 || b.shape(0) != a.shape(0) ||
        b.shape(1) != a.shape(1) || b.shape(2) != 3 || mask.shape(0) != a.shape(0) || mask.shape(1) != a.shape(1))
        throw std::invalid_argument(std::string(what) + ": two H×W×3 frames and an H×W mask");
}

// The colour distance² between a·gain + offset (clipped to [0, ceiling]) and b at pixel i.
inline double matched_distance2(const float* pa, const float* pb, std::int64_t i, const std::array<float, 3>& gain,
                                const std::array<float, 3>& offset, float ceiling) {
    double total = 0.0;
    for (int c = 0; c < 3; ++c) {
        const float matched = std::min(std::max(pa[3 * i + c] * gain[c] + offset[c], 0.0f), ceiling);
        const double d = static_cast<double>(matched) - pb[3 * i + c];
        total += d * d;
    }
    return total;
}

// (count, Σa, Σb, Σab, Σa², max b) over the mask, per channel (max over every channel);
// with a finite limit, over the pixels whose colour, a·gain + offset, lies within limit of b.
py::tuple exposure_sums(const Floats& a, const Floats& b, const Flags& mask, std::array<float, 3> gain,
                        std::array<float, 3> offset, double limit) {
    check(a, b, mask, "exposure_sums");
    const std::int64_t n = mask.size();
    const float* pa = a.data();
    const float* pb = b.data();
    const bool* m = mask.data();
    const bool trimmed = std::isfinite(limit);
    const double limit2 = limit * limit;
    std::int64_t count = 0;
    std::array<double, 3> sa{}, sb{}, sab{}, saa{};
    double top = -INFINITY;
    {
        py::gil_scoped_release release;
        for (std::int64_t i = 0; i < n; ++i) {
            if (!m[i]) continue;
            if (trimmed && matched_distance2(pa, pb, i, gain, offset, INFINITY) > limit2) continue;
            ++count;
            for (int c = 0; c < 3; ++c) {
                const double x = pa[3 * i + c], y = pb[3 * i + c];
                sa[c] += x, sb[c] += y, sab[c] += x * y, saa[c] += x * x;
                top = std::max(top, y);
            }
        }
    }
    auto vec = [](const std::array<double, 3>& v) { return py::make_tuple(v[0], v[1], v[2]); };
    return py::make_tuple(count, vec(sa), vec(sb), vec(sab), vec(saa), top);
}

// RMS over the mask of the colour distance between a·gain + offset (clipped to [0, ceiling],
// in single precision as the matched plate is) and b; with a finite limit, over the pixels
// whose distance is within it.
double matched_rms(const Floats& a, const Floats& b, const Flags& mask, std::array<float, 3> gain,
                   std::array<float, 3> offset, float ceiling, double limit) {
    check(a, b, mask, "matched_rms");
    const std::int64_t n = mask.size();
    const float* pa = a.data();
    const float* pb = b.data();
    const bool* m = mask.data();
    const double limit2 = limit * limit;
    std::int64_t count = 0;
    double total = 0.0;
    {
        py::gil_scoped_release release;
        for (std::int64_t i = 0; i < n; ++i) {
            if (!m[i]) continue;
            const double d2 = matched_distance2(pa, pb, i, gain, offset, ceiling);
            if (d2 > limit2) continue;
            ++count;
            total += d2;
        }
    }
    return count ? std::sqrt(total / static_cast<double>(count)) : 0.0;
}

}  // namespace

PYBIND11_MODULE(_exposure_match, m) {
    m.doc() = "Sums behind a clean plate's exposure match, over the pixels of a mask.";
    const std::array<float, 3> one{1.0f, 1.0f, 1.0f}, zero{0.0f, 0.0f, 0.0f};
    m.def("exposure_sums", &exposure_sums, py::arg("a"), py::arg("b"), py::arg("mask"), py::arg("gain") = one,
          py::arg("offset") = zero, py::arg("limit") = INFINITY,
          "(count, Σa, Σb, Σab, Σa², max b) over mask, per channel, in double; with a finite limit, over the "
          "pixels where |a·gain + offset − b| (colour distance) is within it.");
    m.def("matched_rms", &matched_rms, py::arg("a"), py::arg("b"), py::arg("mask"), py::arg("gain"), py::arg("offset"),
          py::arg("ceiling"), py::arg("limit") = INFINITY,
          "RMS over mask of |clip(a·gain + offset, 0, ceiling) − b| (colour distance), over the pixels where it "
          "is within limit.");
}
