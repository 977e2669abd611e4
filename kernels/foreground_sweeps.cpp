// The red-black Gauss–Seidel sweeps of the multi-level foreground estimator
// (python/ofx_dipmatte/engine/foreground.py says what they solve). One level at a time:
// the Python side builds the pyramid and reads the results; this does the sweeps, which
// in numpy were a dozen array passes per sub-lattice and rectangle (a third of a thin
// ribbon's frame). Every value is computed in single precision with the operations in the
// order the numpy formulation used, so the colours are the same to the bit.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::optional: None for "every pixel" / "no plate"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>

namespace py = pybind11;

namespace {

using Floats = py::array_t<float, py::array::c_style | py::array::forcecast>;
using Flags = py::array_t<bool, py::array::c_style | py::array::forcecast>;

inline float clip(float v, float ceiling) { return std::min(std::max(v, 0.0f), ceiling); }

struct Level {
    float* colours;        // 6 × h × w: F's channels, then B's (read and written)
    const float* image;    // 3 × h × w
    const float* alpha;    // h × w, in [0, 1]
    const bool* swept;     // h × w or null (every pixel)
    const bool* known_bg;  // h × w or null: B is a clean plate's there and stays
    std::int64_t h, w;
    float regularization, gradient_weight, ceiling;

    // F and B of pixel (y, x) from its four neighbours (of the other colour; an edge
    // pixel is its own neighbour across the edge, as a border of repeated edges gives).
    void solve(std::int64_t y, std::int64_t x) const {
        const std::int64_t plane = h * w, at = y * w + x;
        const std::int64_t near[4] = {(y > 0 ? y - 1 : y) * w + x, (y + 1 < h ? y + 1 : y) * w + x,
                                      y * w + (x > 0 ? x - 1 : x), y * w + (x + 1 < w ? x + 1 : x)};
        const float a0 = alpha[at], a1 = 1.0f - a0;
        float weight[4];
        for (int k = 0; k < 4; ++k) weight[k] = regularization + gradient_weight * std::fabs(a0 - alpha[near[k]]);
        const float w_sum = weight[0] + weight[1] + weight[2] + weight[3];
        const float a00 = a0 * a0 + w_sum, a11 = a1 * a1 + w_sum, a01 = a0 * a1;
        const float inv_det = 1.0f / (w_sum * (a0 * a0 + a1 * a1 + w_sum));
        const bool plate = known_bg != nullptr && known_bg[at];
        for (int c = 0; c < 3; ++c) {
            const float* f = colours + c * plane;
            const float* b = colours + (c + 3) * plane;
            const float i = image[c * plane + at];
            const float data_f = a0 * i, data_b = a1 * i;
            float b0 = data_f, b1 = data_b;  // [αI, (1 − α)I] + Σ w · neighbour
            for (int k = 0; k < 4; ++k) {
                b0 = b0 + weight[k] * f[near[k]];
                b1 = b1 + weight[k] * b[near[k]];
            }
            float new_f, new_b;
            if (plate) {
                // F alone: (α (I − (1 − α) B) + Σ w F_n) / (α² + Σ w); B stays the plate's.
                const float bg = b[at];
                const float only_f = ((i - a1 * bg) * a0 + (b0 - data_f)) / (a0 * a0 + w_sum);
                new_f = clip(only_f, ceiling);
                new_b = bg;
            } else {
                new_f = clip((a11 * b0 - a01 * b1) * inv_det, ceiling);
                new_b = clip((a00 * b1 - a01 * b0) * inv_det, ceiling);
            }
            colours[c * plane + at] = new_f;
            colours[(c + 3) * plane + at] = new_b;
        }
    }

    void sweep() const {
        for (int colour = 0; colour < 2; ++colour) {  // pixels whose row + column is even, then odd
            for (std::int64_t y = 0; y < h; ++y) {
                const bool* row = swept == nullptr ? nullptr : swept + y * w;
                for (std::int64_t x = (y + colour) & 1; x < w; x += 2) {
                    if (row == nullptr || row[x]) solve(y, x);
                }
            }
        }
    }
};

void sweep_level(Floats colours, const Floats& image, const Floats& alpha, std::optional<Flags> swept,
                 std::optional<Flags> known_bg, float regularization, float gradient_weight, float ceiling,
                 int sweeps) {
    if (colours.ndim() != 3 || colours.shape(0) != 6 || image.ndim() != 3 || image.shape(0) != 3 ||
        alpha.ndim() != 2)
        throw std::invalid_argument("sweep_level: colours 6×H×W, image 3×H×W, alpha H×W");
    const std::int64_t h = alpha.shape(0), w = alpha.shape(1);
    if (colours.shape(1) != h || colours.shape(2) != w || image.shape(1) != h || image.shape(2) != w)
        throw std::invalid_argument("sweep_level: colours, image and alpha differ in size");
    for (const auto* mask : {swept ? &*swept : nullptr, known_bg ? &*known_bg : nullptr})
        if (mask != nullptr && (mask->ndim() != 2 || mask->shape(0) != h || mask->shape(1) != w))
            throw std::invalid_argument("sweep_level: masks must be H×W");
    if (!colours.writeable()) throw std::invalid_argument("sweep_level: colours must be writeable");
    const Level level{colours.mutable_data(), image.data(), alpha.data(),
                      swept ? swept->data() : nullptr, known_bg ? known_bg->data() : nullptr,
                      h, w, regularization, gradient_weight, ceiling};
    py::gil_scoped_release release;  // tiles are estimated side by side on threads
    for (int s = 0; s < sweeps; ++s) level.sweep();
}

}  // namespace

PYBIND11_MODULE(_foreground_sweeps, m) {
    m.doc() = "Red-black Gauss-Seidel sweeps of one level of the multi-level foreground estimator.";
    m.def("sweep_level", &sweep_level, py::arg("colours").noconvert(), py::arg("image"), py::arg("alpha"),
          py::arg("swept"), py::arg("known_bg"), py::arg("regularization"), py::arg("gradient_weight"),
          py::arg("ceiling"), py::arg("sweeps"),
          "Sweep ``colours`` (6×H×W float32, C-contiguous, F then B; in place) ``sweeps`` times.");
}
