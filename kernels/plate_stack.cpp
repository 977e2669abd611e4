// One frame's step of the carried background's running mean and spread
// (python/ofx_dipmatte/engine/clean_plate.py, PlateStack.add): Welford's update where
// the frame's trimap shows the background. numpy computed it over the whole frame in six
// frame-sized passes and temporaries (0.2 s a 1080p frame, every frame of a shot); here it is one pass, with
// numpy's operations in numpy's order in single precision, so the stack is the same to the bit.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace py = pybind11;

namespace {

template <class T>
using Array = py::array_t<T, py::array::c_style>;

void welford_update(const Array<float>& colour, const Array<bool>& seen, Array<std::int32_t>& count,
                    Array<float>& mean, Array<float>& square) {
    if (colour.ndim() != 3 || colour.shape(2) != 3 || seen.ndim() != 2 || seen.shape(0) != colour.shape(0) ||
        seen.shape(1) != colour.shape(1) || count.ndim() != 2 || count.shape(0) != seen.shape(0) ||
        count.shape(1) != seen.shape(1) || mean.ndim() != 3 || square.ndim() != 3)
        throw std::invalid_argument("welford_update: colour, mean and square H×W×3, seen and count H×W");
    for (int axis = 0; axis < 3; ++axis)
        if (mean.shape(axis) != colour.shape(axis) || square.shape(axis) != colour.shape(axis))
            throw std::invalid_argument("welford_update: mean and square must be the colour's shape");
    const std::int64_t n = seen.size();
    const float* c = colour.data();
    const bool* s = seen.data();
    std::int32_t* k = count.mutable_data();
    float* m = mean.mutable_data();
    float* q = square.mutable_data();
    py::gil_scoped_release release;
    for (std::int64_t i = 0; i < n; ++i) {
        k[i] += s[i] ? 1 : 0;                        // count += seen
        const float shown = s[i] ? 1.0f : 0.0f;
        const float divisor = static_cast<float>(std::max<std::int32_t>(k[i], 1));
        for (std::int64_t j = 3 * i; j < 3 * i + 3; ++j) {
            const float delta = (c[j] - m[j]) * shown;  // (colour − mean) · seen
            const float step = delta / divisor;        // / max(count, 1) as float32
            m[j] += step;
            q[j] += delta * (delta - step);            // (x − old mean)(x − new mean)
        }
    }
}

}  // namespace

PYBIND11_MODULE(_plate_stack, m) {
    m.doc() = "The carried background's running mean and spread: one frame's Welford update.";
    m.def("welford_update", &welford_update, py::arg("colour").noconvert(), py::arg("seen").noconvert(),
          py::arg("count").noconvert(), py::arg("mean").noconvert(), py::arg("square").noconvert(),
          "Add colour (H×W×3 float32) where seen (H×W bool) to count (int32), mean and square (float32), in place.");
}
