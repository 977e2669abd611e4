// Conjugate gradients on a matting system stored as a stencil (python/ofx_dipmatte/engine/
// alpha_solve.py, solve_alpha's iterative path: the refinement rounds' solves).
//
// A band system's row couples an unknown pixel with the unknown pixels of its 5×5
// neighbourhood (the 3×3 windows of the matting Laplacian that hold it). scipy's CSR
// product reads an 8-byte value and a 4-byte column index for each of those entries, and
// its conjugate gradients then pass over the vectors about ten more times an iteration:
// on a 1080p plate that was 29 % of a frame's thread time. Here each row keeps its 25
// off-diagonal coefficients in single precision (zero where the neighbour is known or
// outside the window) and its diagonal in double; the search direction lives on the
// window's pixel grid (known pixels stay 0), so a neighbour is a fixed offset away, and
// one iteration is three passes over the rows. Sums are in double throughout.
//
// Rounding the coefficients to single precision perturbs the matrix by about 6e-8 of its
// entries; the solves it serves stop at a residual of 1e-4, far above that.

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // the grid shape (a pair), the optional should_stop

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace {

constexpr int kSpan = 5;               // the stencil's width: offsets −2 … 2 on each axis
constexpr int kReach = kSpan / 2;
constexpr int kTaps = kSpan * kSpan;
constexpr int kCentre = kTaps / 2;

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

// The stencil of a system whose rows and columns are the unknown pixels (ys[i], xs[i]) of a
// height×width window, ascending row-major: per row the 25 coefficients (the centre's 0), the
// diagonal, and the row's place on the window's grid padded by two pixels each side.
// None when an entry couples pixels further apart than the stencil reaches.
py::object build_stencil(const Array<std::int32_t>& indptr, const Array<std::int32_t>& indices,
                         const Array<double>& data, const Array<std::int64_t>& ys, const Array<std::int64_t>& xs,
                         std::int64_t height, std::int64_t width) {
    const std::int64_t n = ys.size();
    if (xs.size() != n || indptr.size() != n + 1 || indices.size() != data.size() || height < 1 || width < 1)
        throw std::invalid_argument("build_stencil: indptr must have one entry more than the pixels; indices and data one size");
    const std::int64_t grid_width = width + 2 * kReach;
    Array<float> coef({n, static_cast<std::int64_t>(kTaps)});
    Array<double> diagonal(n);
    Array<std::int64_t> place(n);
    const std::int32_t* ptr = indptr.data();
    const std::int32_t* col = indices.data();
    const double* val = data.data();
    const std::int64_t* y = ys.data();
    const std::int64_t* x = xs.data();
    float* c = coef.mutable_data();
    double* d = diagonal.mutable_data();
    std::int64_t* p = place.mutable_data();
    bool fits = true;
    {
        py::gil_scoped_release release;
        for (std::int64_t i = 0; i < n && fits; ++i) {
            if (y[i] < 0 || y[i] >= height || x[i] < 0 || x[i] >= width) {
                fits = false;
                break;
            }
            float* row = c + i * kTaps;
            std::fill(row, row + kTaps, 0.0f);
            d[i] = 0.0;
            p[i] = (y[i] + kReach) * grid_width + x[i] + kReach;
            for (std::int32_t k = ptr[i]; k < ptr[i + 1]; ++k) {
                const std::int32_t j = col[k];
                if (j < 0 || j >= n) throw std::invalid_argument("build_stencil: a column index out of range");
                const std::int64_t dy = y[j] - y[i], dx = x[j] - x[i];
                if (dy < -kReach || dy > kReach || dx < -kReach || dx > kReach) {
                    fits = false;
                    break;
                }
                const int tap = static_cast<int>((dy + kReach) * kSpan + dx + kReach);
                if (tap == kCentre)
                    d[i] += val[k];
                else
                    row[tap] += static_cast<float>(val[k]);
            }
        }
    }
    if (!fits) return py::none();
    return py::make_tuple(coef, diagonal, place, py::make_tuple(height + 2 * kReach, grid_width));
}

// q = A·p over the n rows (A: off-diagonal taps `coef`, diagonal `diag`; p on the grid at
// `at`); returns pᵀq. Each row's 5×5 taps are summed four columns at once (GCC/Clang
// generic vectors: two SSE2 instructions) and the fifth alone, then added in a fixed order:
// with the curvature in the same pass, 0.84× the time of a plain loop over the 25, which
// the compiler left scalar (11.8 against 14.1 ns a row and step). Built for AVX2: no faster.
double product_pass(const float* coef, const double* diag, const std::int64_t* at, const std::int64_t* row_offset,
                    std::int64_t n, const double* pg, double* q) {
    typedef double Doubles4 __attribute__((vector_size(32)));
    typedef float Floats4 __attribute__((vector_size(16)));
    double curvature = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
        const float* taps = coef + i * kTaps;
        const double* centre = pg + at[i];
        Doubles4 first{0.0, 0.0, 0.0, 0.0};
        double last = 0.0;
        for (int dy = 0; dy < kSpan; ++dy, taps += kSpan) {
            const double* line = centre + row_offset[dy];  // the row's left end, two pixels left
            Floats4 t;
            Doubles4 v;
            std::memcpy(&t, taps, sizeof t);
            std::memcpy(&v, line, sizeof v);
            first += __builtin_convertvector(t, Doubles4) * v;
            last += static_cast<double>(taps[4]) * line[4];
        }
        q[i] = diag[i] * centre[0] + (first[0] + first[1] + first[2] + first[3] + last);
        curvature += centre[0] * q[i];
    }
    return curvature;
}

// Preconditioned (Jacobi) conjugate gradients as scipy.sparse.linalg.cg runs them: stops
// when |b − Ax| < rtol·|b| (checked before each step) or after max_steps steps.
// should_stop is polled every 20 ms; True ends the solve early (stopped = True).
py::tuple conjugate_gradients(const Array<float>& coef, const Array<double>& diagonal, const Array<std::int64_t>& place,
                              std::pair<std::int64_t, std::int64_t> grid, const Array<double>& extra,
                              const Array<double>& rhs, const Array<double>& x0, double rtol, std::int64_t max_steps,
                              std::optional<std::function<bool()>> should_stop) {
    const std::int64_t n = diagonal.size();
    if (coef.ndim() != 2 || coef.shape(0) != n || coef.shape(1) != kTaps || place.size() != n || extra.size() != n ||
        rhs.size() != n || x0.size() != n)
        throw std::invalid_argument("conjugate_gradients: a stencil (n×25, n, n), and n-long extra diagonal, rhs and x0");
    const std::int64_t grid_width = grid.second, grid_size = grid.first * grid.second;
    const std::int64_t* at = place.data();
    for (std::int64_t i = 0; i < n; ++i)
        if (at[i] < kReach * grid_width + kReach || at[i] >= grid_size - kReach * grid_width - kReach)
            throw std::invalid_argument("conjugate_gradients: a pixel's place lies outside its grid's interior");
    std::int64_t row_offset[kSpan];  // from a pixel to the left end of each of its stencil's rows
    for (int dy = 0; dy < kSpan; ++dy) row_offset[dy] = (dy - kReach) * grid_width - kReach;

    Array<double> solution(n);
    double* x = solution.mutable_data();
    const float* c = coef.data();
    const double* b = rhs.data();
    std::vector<double> diag(n), inverse(n), r(n), z(n), q(n), direction(grid_size, 0.0);
    double* pg = direction.data();
    std::int64_t steps = 0;
    bool converged = false, stopped = false, broke_down = false;
    {
        py::gil_scoped_release release;
        double bnorm = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {
            diag[i] = diagonal.data()[i] + extra.data()[i];
            inverse[i] = 1.0 / std::max(diag[i], 1e-12);
            x[i] = x0.data()[i];
            pg[at[i]] = x[i];
            bnorm += b[i] * b[i];
        }
        const double limit = rtol * std::sqrt(bnorm);
        product_pass(c, diag.data(), at, row_offset, n, pg, q.data());  // A·x0
        double rnorm2 = 0.0, rho = 0.0, beta = 0.0;
        for (std::int64_t i = 0; i < n; ++i) {
            r[i] = b[i] - q[i];
            rnorm2 += r[i] * r[i];
            z[i] = inverse[i] * r[i];
            rho += r[i] * z[i];
        }
        if (bnorm == 0.0) {  // scipy answers b itself
            std::fill(x, x + n, 0.0);
            converged = true;
        }
        auto last_poll = std::chrono::steady_clock::now();
        while (!converged && steps < max_steps) {
            if (std::sqrt(rnorm2) < limit) {
                converged = true;
                break;
            }
            if (should_stop) {
                const auto now = std::chrono::steady_clock::now();
                if (now - last_poll >= std::chrono::milliseconds(20)) {
                    last_poll = now;
                    py::gil_scoped_acquire acquire;
                    if ((*should_stop)()) {
                        stopped = true;
                        break;
                    }
                }
            }
            for (std::int64_t i = 0; i < n; ++i) pg[at[i]] = z[i] + beta * pg[at[i]];
            const double curvature = product_pass(c, diag.data(), at, row_offset, n, pg, q.data());
            if (!(curvature > 0.0) || !std::isfinite(curvature)) {  // not positive definite along p
                broke_down = true;
                break;
            }
            const double step = rho / curvature;
            // The step, and the next step's preconditioned residual with it (one pass).
            double rho_next = 0.0;
            rnorm2 = 0.0;
            for (std::int64_t i = 0; i < n; ++i) {
                x[i] += step * pg[at[i]];
                r[i] -= step * q[i];
                rnorm2 += r[i] * r[i];
                z[i] = inverse[i] * r[i];
                rho_next += r[i] * z[i];
            }
            beta = rho_next / rho;
            rho = rho_next;
            ++steps;
        }
    }
    if (stopped) return py::make_tuple(solution, steps, "stopped");
    if (broke_down) return py::make_tuple(solution, steps, "breakdown");
    return py::make_tuple(solution, steps, converged ? "converged" : "max_steps");
}

}  // namespace

PYBIND11_MODULE(_stencil_cg, m) {
    m.doc() = "Conjugate gradients on a matting system stored as a 5x5 stencil over its window.";
    m.def("build_stencil", &build_stencil, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("ys"),
          py::arg("xs"), py::arg("height"), py::arg("width"));
    m.def("conjugate_gradients", &conjugate_gradients, py::arg("coef"), py::arg("diagonal"), py::arg("place"),
          py::arg("grid"), py::arg("extra"), py::arg("rhs"), py::arg("x0"), py::arg("rtol"), py::arg("max_steps"),
          py::arg("should_stop") = py::none());
}
