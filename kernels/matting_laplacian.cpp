// The rows of the matting Laplacian (Levin, Lischinski, Weiss 2008) that a solve reads,
// summed window by window straight into CSR (python/ofx_dipmatte/engine/laplacian.py says
// what it is). In numpy the windows went through (K, 9, 3) gathers, batched 3×3
// inverses, (K, 9, 9) products and nine scattered additions: about a seventh of a 1080p
// frame. Here each window's colours are whitened once (Cholesky of its covariance) and
// its 81 entries are sums of three products.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace {

using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Indices = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

// L⁻¹ v for the lower-triangular Cholesky factor L of a 3×3 covariance (row-major).
struct Whitening {
    double l00, l10, l11, l20, l21, l22;

    // Σ = L Lᵀ; false where Σ is not positive definite (it always is with eps > 0).
    bool factor(const double s[9]) {
        l00 = std::sqrt(s[0]);
        if (!(l00 > 0)) return false;
        l10 = s[3] / l00;
        const double d11 = s[4] - l10 * l10;
        if (!(d11 > 0)) return false;
        l11 = std::sqrt(d11);
        l20 = s[6] / l00;
        l21 = (s[7] - l20 * l10) / l11;
        const double d22 = s[8] - l20 * l20 - l21 * l21;
        if (!(d22 > 0)) return false;
        l22 = std::sqrt(d22);
        return true;
    }

    void apply(const double v[3], double out[3]) const {
        out[0] = v[0] / l00;
        out[1] = (v[1] - l10 * out[0]) / l11;
        out[2] = (v[2] - l20 * out[0] - l21 * out[1]) / l22;
    }
};

// (data, indices, indptr) of the rows ``rows`` (ascending flat pixel indices) of the N×N
// Laplacian of ``image`` (H×W×3), from the (2r + 1)² windows whose top-left pixels are
// ``corners`` (flat indices): every window that holds a pixel of ``rows``. A row holds its
// pixel's (4r + 1)² neighbours inside the image, in ascending order (zeros included, so
// the pattern depends on the geometry only); other rows are empty.
py::tuple laplacian_rows(const Doubles& image, const Indices& corners, const Indices& rows, double eps,
                         int radius) {
    if (image.ndim() != 3 || image.shape(2) != 3) throw std::invalid_argument("laplacian_rows: image must be H×W×3");
    if (radius < 1) throw std::invalid_argument("laplacian_rows: radius must be at least 1");
    const std::int64_t h = image.shape(0), w = image.shape(1), n = h * w;
    const int size = 2 * radius + 1, n_win = size * size, reach = 2 * radius, span = 2 * reach + 1;
    const std::int64_t n_rows = rows.size();
    const double* pixels = image.data();
    const std::int64_t* corner = corners.data();
    const std::int64_t* row = rows.data();

    std::vector<std::int64_t> slot(static_cast<size_t>(n), -1);  // a pixel's row of `band`, -1 where not built
    for (std::int64_t i = 0; i < n_rows; ++i) {
        if (row[i] < 0 || row[i] >= n || (i > 0 && row[i] <= row[i - 1]))
            throw std::invalid_argument("laplacian_rows: rows must be ascending pixel indices");
        slot[static_cast<size_t>(row[i])] = i;
    }
    for (std::int64_t k = 0; k < corners.size(); ++k) {
        const std::int64_t y = corner[k] / w, x = corner[k] % w;
        if (corner[k] < 0 || y + size > h || x + size > w)
            throw std::invalid_argument("laplacian_rows: a window lies outside the image");
    }
    // band[slot · span² + (oy + reach) · span + ox + reach] = L[p, p + (oy, ox)]
    std::vector<double> band(static_cast<size_t>(n_rows * span * span), 0.0);
    {
        py::gil_scoped_release release;  // tiles build their Laplacians side by side on threads
        std::vector<double> centred(static_cast<size_t>(3 * n_win)), white(static_cast<size_t>(3 * n_win));
        std::vector<std::int64_t> at(static_cast<size_t>(n_win));
        for (std::int64_t k = 0; k < corners.size(); ++k) {
            double mean[3] = {0, 0, 0};
            for (int a = 0; a < n_win; ++a) {
                at[a] = corner[k] + (a / size) * w + a % size;
                for (int c = 0; c < 3; ++c) mean[c] += pixels[at[a] * 3 + c];
            }
            for (double& m : mean) m /= n_win;
            double cov[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
            for (int a = 0; a < n_win; ++a) {
                double* d = &centred[3 * a];
                for (int c = 0; c < 3; ++c) d[c] = pixels[at[a] * 3 + c] - mean[c];
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j <= i; ++j) cov[i * 3 + j] += d[i] * d[j];
            }
            for (int i = 0; i < 3; ++i) {
                for (int j = 0; j <= i; ++j) cov[i * 3 + j] /= n_win;
                cov[i * 3 + i] += eps / n_win;  // the regulariser: a flat window is not singular
            }
            Whitening whiten{};
            // eps is in colour units: beside a hot pixel (a firefly of 10⁶ among colours near
            // 1) the covariance's spread exceeds a double's precision and eps is lost in it.
            // Such a window is held by a regulariser relative to its own scale instead (the
            // windows that factor with eps alone, every window of a plate's range, are as before).
            const double scale = cov[0] + cov[4] + cov[8];
            for (double jitter = 1e-13 * scale; !whiten.factor(cov); jitter *= 100) {
                if (!(jitter > 0) || jitter > scale)
                    throw std::runtime_error("laplacian_rows: a window's covariance is not positive definite");
                for (int i = 0; i < 3; ++i) cov[i * 3 + i] += jitter;
            }
            for (int a = 0; a < n_win; ++a) whiten.apply(&centred[3 * a], &white[3 * a]);
            // L[a, b] += δ_ab − (1 + (I_a − μ)ᵀ Σ⁻¹ (I_b − μ)) / n_win, on the rows built.
            for (int a = 0; a < n_win; ++a) {
                const std::int64_t s = slot[static_cast<size_t>(at[a])];
                if (s < 0) continue;
                const double* ya = &white[3 * a];
                double* out = &band[static_cast<size_t>(s * span * span)];
                for (int b = 0; b < n_win; ++b) {
                    const double* yb = &white[3 * b];
                    const int oy = b / size - a / size, ox = b % size - a % size;
                    const double value = (a == b ? 1.0 : 0.0) - (1.0 + ya[0] * yb[0] + ya[1] * yb[1] + ya[2] * yb[2]) / n_win;
                    out[(oy + reach) * span + ox + reach] += value;
                }
            }
        }
    }
    // CSR, written straight into the arrays returned (a 512² window's rows are ~100 MB):
    // each row's neighbours inside the image, columns ascending.
    py::array_t<std::int32_t> indptr(n + 1);
    std::int32_t* ptr = indptr.mutable_data();
    std::int64_t total = 0;
    for (std::int64_t i = 0; i < n_rows; ++i) {
        const std::int64_t y = row[i] / w, x = row[i] % w;
        total += (std::min(y + reach, h - 1) - std::max(y - reach, std::int64_t{0}) + 1) *
                 (std::min(x + reach, w - 1) - std::max(x - reach, std::int64_t{0}) + 1);
    }
    if (n >= INT32_MAX || total >= INT32_MAX) throw std::invalid_argument("laplacian_rows: the window is too large");
    py::array_t<double> data(total);
    py::array_t<std::int32_t> indices(total);
    double* value = data.mutable_data();
    std::int32_t* column = indices.mutable_data();
    std::int32_t filled = 0;
    std::int64_t next = 0;  // the next built row, in `rows`
    for (std::int64_t p = 0; p < n; ++p) {
        ptr[p] = filled;
        if (next >= n_rows || row[next] != p) continue;
        const std::int64_t y = p / w, x = p % w;
        const double* entries = &band[static_cast<size_t>(next * span * span)];
        for (int oy = -reach; oy <= reach; ++oy) {
            if (y + oy < 0 || y + oy >= h) continue;
            for (int ox = -reach; ox <= reach; ++ox) {
                if (x + ox < 0 || x + ox >= w) continue;
                value[filled] = entries[(oy + reach) * span + ox + reach];
                column[filled++] = static_cast<std::int32_t>(p + oy * w + ox);
            }
        }
        ++next;
    }
    ptr[n] = filled;
    return py::make_tuple(data, indices, indptr);
}

}  // namespace

PYBIND11_MODULE(_matting_laplacian, m) {
    m.doc() = "Rows of the matting Laplacian, summed window by window into CSR.";
    m.def("laplacian_rows", &laplacian_rows, py::arg("image"), py::arg("corners"), py::arg("rows"), py::arg("eps"),
          py::arg("radius"),
          "(data, indices, indptr) of the rows ``rows`` of ``image``'s matting Laplacian, from the windows "
          "whose top-left pixels are ``corners``.");
}
