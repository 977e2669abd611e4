// The weighted local colour variance (python/ofx_dipmatte/engine/refine.py,
// local_colour_variance) at the pixels a caller reads: seven Gaussian-blurred planes
// (the weight, and the weighted colours and squared colours) from which the variance is
// Σ_c E[I_c²] − E[I_c]². scipy's gaussian_filter blurred every plane over the whole window,
// seven times a window per call, though only the band's pixels are read: 42 % of a 256²
// still with a thin band. Each blur here is scipy's, step for step (the separable passes in its
// order, double accumulation, float32 between passes, edges repeated), so the variance is
// the same to the bit where it is computed.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::optional: None for "every pixel"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace {

using Floats = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Flags = py::array_t<bool, py::array::c_style | py::array::forcecast>;

constexpr int kPlanes = 7;  // weight, weight·I_c, weight·I_c²

py::array_t<float> local_colour_variance(const Floats& image, const Floats& weight, const Doubles& kernel,
                                         std::optional<Flags> where) {
    if (image.ndim() != 3 || image.shape(2) != 3 || weight.ndim() != 2 || weight.shape(0) != image.shape(0) ||
        weight.shape(1) != image.shape(1))
        throw std::invalid_argument("local_colour_variance: image H×W×3 and weight H×W");
    if (kernel.ndim() != 1 || kernel.size() % 2 == 0) throw std::invalid_argument("local_colour_variance: odd kernel");
    const std::int64_t h = weight.shape(0), w = weight.shape(1), n = h * w;
    if (where && (where->ndim() != 2 || where->shape(0) != h || where->shape(1) != w))
        throw std::invalid_argument("local_colour_variance: where must be H×W");
    const int reach = static_cast<int>(kernel.size() / 2);
    const double* centre = kernel.data() + reach;
    for (int j = 1; j <= reach; ++j)
        if (centre[j] != centre[-j]) throw std::invalid_argument("local_colour_variance: the kernel must be symmetric");
    py::array_t<float> out({h, w});
    float* variance = out.mutable_data();
    const float* rgb = image.data();
    const float* wt = weight.data();
    const bool* wanted = where ? where->data() : nullptr;
    {
        py::gil_scoped_release release;
        std::fill(variance, variance + n, 0.0f);
        // Each row's span of wanted pixels, widened by the kernel's reach: where the first
        // pass (along columns) is read by the second (along rows).
        std::vector<std::int64_t> lo(static_cast<size_t>(h), w), hi(static_cast<size_t>(h), -1);
        for (std::int64_t y = 0; y < h; ++y)
            for (std::int64_t x = 0; x < w; ++x)
                if (wanted == nullptr || wanted[y * w + x]) {
                    lo[y] = std::min(lo[y], std::max<std::int64_t>(x - reach, 0));
                    hi[y] = std::max(hi[y], std::min<std::int64_t>(x + reach, w - 1));
                }
        // The planes where the first pass reads them: each row's span over the rows within reach.
        std::vector<std::int64_t> plane_lo(static_cast<size_t>(h), w), plane_hi(static_cast<size_t>(h), -1);
        for (std::int64_t y = 0; y < h; ++y) {
            if (hi[y] < lo[y]) continue;
            for (std::int64_t r = std::max<std::int64_t>(y - reach, 0); r <= std::min<std::int64_t>(y + reach, h - 1); ++r) {
                plane_lo[r] = std::min(plane_lo[r], lo[y]);
                plane_hi[r] = std::max(plane_hi[r], hi[y]);
            }
        }
        std::unique_ptr<float[]> planes(new float[static_cast<size_t>(kPlanes * n)]);  // plane-major, H×W each
        for (std::int64_t y = 0; y < h; ++y) {
            for (std::int64_t p = y * w + plane_lo[y]; p <= y * w + plane_hi[y]; ++p) {
                planes[p] = wt[p];
                for (int c = 0; c < 3; ++c) {
                    const float i = rgb[p * 3 + c];
                    planes[(1 + c) * n + p] = i * wt[p];
                    planes[(4 + c) * n + p] = i * i * wt[p];
                }
            }
        }
        // First pass, along columns, a row at a time (scipy's order of terms per output:
        // the centre tap, then the pairs from the outermost in, in double precision).
        std::unique_ptr<float[]> vertical(new float[static_cast<size_t>(kPlanes * n)]);
        std::vector<double> sum(static_cast<size_t>(w));
        for (int k = 0; k < kPlanes; ++k) {
            const float* plane = &planes[static_cast<size_t>(k * n)];
            for (std::int64_t y = 0; y < h; ++y) {
                if (hi[y] < lo[y]) continue;
                const float* here = plane + y * w;
                for (std::int64_t x = lo[y]; x <= hi[y]; ++x) sum[x] = static_cast<double>(here[x]) * centre[0];
                for (int j = -reach; j < 0; ++j) {
                    const float* above = plane + std::max<std::int64_t>(y + j, 0) * w;
                    const float* below = plane + std::min<std::int64_t>(y - j, h - 1) * w;
                    for (std::int64_t x = lo[y]; x <= hi[y]; ++x)
                        sum[x] += (static_cast<double>(above[x]) + static_cast<double>(below[x])) * centre[j];
                }
                float* pass = &vertical[static_cast<size_t>(k * n + y * w)];
                for (std::int64_t x = lo[y]; x <= hi[y]; ++x) pass[x] = static_cast<float>(sum[x]);
            }
        }
        // Second pass, along rows, at the wanted pixels, and the variance there.
        for (std::int64_t y = 0; y < h; ++y) {
            for (std::int64_t x = lo[y]; x <= hi[y]; ++x) {
                const std::int64_t p = y * w + x;
                if (wanted != nullptr && !wanted[p]) continue;
                float blurred[kPlanes];
                for (int k = 0; k < kPlanes; ++k) {
                    const float* line = &vertical[static_cast<size_t>(k * n + y * w)];
                    double total = static_cast<double>(line[x]) * centre[0];
                    for (int j = -reach; j < 0; ++j)
                        total += (static_cast<double>(line[std::max<std::int64_t>(x + j, 0)]) +
                                  static_cast<double>(line[std::min<std::int64_t>(x - j, w - 1)])) * centre[j];
                    blurred[k] = static_cast<float>(total);
                }
                const float total = blurred[0] + 1e-6f;
                float variance_sum = 0.0f;
                for (int c = 0; c < 3; ++c) {
                    const float mean = blurred[1 + c] / total, mean_sq = blurred[4 + c] / total;
                    variance_sum += std::max(mean_sq - mean * mean, 0.0f);
                }
                variance[p] = variance_sum;
            }
        }
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_colour_variance, m) {
    m.doc() = "The weighted local colour variance at the pixels a caller reads.";
    m.def("local_colour_variance", &local_colour_variance, py::arg("image"), py::arg("weight"), py::arg("kernel"),
          py::arg("where"),
          "Σ_c of the ``weight``-weighted variance of ``image`` (H×W×3) under the Gaussian ``kernel``, "
          "at the ``where`` pixels (H×W bool; None: all); 0 elsewhere.");
}
