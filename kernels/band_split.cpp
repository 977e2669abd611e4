// A sparse matrix's rows of a trimap's unknown pixels, split by column into the unknown
// pixels' and the known ones': the BandSystem of python/ofx_dipmatte/engine/alpha_solve.py.
// scipy's `A[unknown][:, unknown]` and `A[unknown][:, ~unknown]` took three passes of
// general fancy indexing over the rows (12 % of a 4K UHD frame on one thread); here one
// pass counts and one routes each entry to its side, in the order it was stored.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace py = pybind11;

namespace {

using Indices = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using Doubles = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Mask = py::array_t<bool, py::array::c_style | py::array::forcecast>;

py::tuple split_band(const Indices& indptr, const Indices& indices, const Doubles& data, const Mask& unknown) {
    const std::int64_t n = unknown.size();
    if (indptr.size() != n + 1) throw std::invalid_argument("split_band: indptr must have one entry per pixel, plus one");
    if (indices.size() != data.size()) throw std::invalid_argument("split_band: indices and data differ in length");
    const std::int32_t* ptr = indptr.data();
    const std::int32_t* column = indices.data();
    const double* value = data.data();
    const bool* is_unknown = unknown.data();
    if (ptr[0] != 0 || ptr[n] != indices.size()) throw std::invalid_argument("split_band: indptr does not match the entries");

    // Each pixel's column on its side: its place among the unknown pixels, or the known ones.
    std::vector<std::int32_t> place(static_cast<size_t>(n));
    std::int32_t n_unknown = 0, n_known = 0;
    for (std::int64_t p = 0; p < n; ++p) place[static_cast<size_t>(p)] = is_unknown[p] ? n_unknown++ : n_known++;
    std::int64_t uu = 0, uk = 0;  // entries of each side
    {
        py::gil_scoped_release release;  // tiles split their systems side by side on threads
        for (std::int64_t p = 0; p < n; ++p) {
            if (!is_unknown[p]) continue;
            if (ptr[p + 1] < ptr[p]) throw std::invalid_argument("split_band: indptr must not decrease");
            for (std::int32_t e = ptr[p]; e < ptr[p + 1]; ++e) {
                if (column[e] < 0 || column[e] >= n) throw std::invalid_argument("split_band: a column lies outside the matrix");
                (is_unknown[column[e]] ? uu : uk) += 1;
            }
        }
    }
    if (uu >= INT32_MAX || uk >= INT32_MAX) throw std::invalid_argument("split_band: the matrix is too large");

    py::array_t<double> uu_data(uu), uk_data(uk);
    py::array_t<std::int32_t> uu_indices(uu), uk_indices(uk), uu_ptr(n_unknown + 1), uk_ptr(n_unknown + 1);
    double *uu_value = uu_data.mutable_data(), *uk_value = uk_data.mutable_data();
    std::int32_t *uu_column = uu_indices.mutable_data(), *uk_column = uk_indices.mutable_data();
    std::int32_t *uu_row = uu_ptr.mutable_data(), *uk_row = uk_ptr.mutable_data();
    {
        py::gil_scoped_release release;
        std::int32_t row = 0, filled_uu = 0, filled_uk = 0;
        for (std::int64_t p = 0; p < n; ++p) {
            if (!is_unknown[p]) continue;
            uu_row[row] = filled_uu;
            uk_row[row++] = filled_uk;
            for (std::int32_t e = ptr[p]; e < ptr[p + 1]; ++e) {
                const std::int32_t c = column[e];
                if (is_unknown[c]) {
                    uu_value[filled_uu] = value[e];
                    uu_column[filled_uu++] = place[static_cast<size_t>(c)];
                } else {
                    uk_value[filled_uk] = value[e];
                    uk_column[filled_uk++] = place[static_cast<size_t>(c)];
                }
            }
        }
        uu_row[row] = filled_uu;
        uk_row[row] = filled_uk;
    }
    return py::make_tuple(py::make_tuple(uu_data, uu_indices, uu_ptr), py::make_tuple(uk_data, uk_indices, uk_ptr),
                          n_known);
}

// Where each row's diagonal entry sits in the data of an n×n CSR matrix, -1 where it is
// not stored once. numpy's repeat-and-compare took 4 % of a 4K UHD frame.
py::array_t<std::int32_t> diagonal_positions(const Indices& indptr, const Indices& indices) {
    const std::int64_t n = indptr.size() - 1;
    if (n < 0) throw std::invalid_argument("diagonal_positions: indptr is empty");
    const std::int32_t* ptr = indptr.data();
    const std::int32_t* column = indices.data();
    if (ptr[0] != 0 || ptr[n] != indices.size()) throw std::invalid_argument("diagonal_positions: indptr does not match the entries");
    py::array_t<std::int32_t> at(n);
    std::int32_t* out = at.mutable_data();
    {
        py::gil_scoped_release release;
        for (std::int64_t row = 0; row < n; ++row) {
            std::int32_t found = -1, times = 0;
            for (std::int32_t e = ptr[row]; e < ptr[row + 1]; ++e)
                if (column[e] == row) {
                    found = e;
                    ++times;
                }
            out[row] = times == 1 ? found : -1;  // stored twice: no one place to add to
        }
    }
    return at;
}

}  // namespace

PYBIND11_MODULE(_band_split, m) {
    m.doc() = "A sparse matrix's rows of the unknown pixels, split by column into unknown and known.";
    m.def("split_band", &split_band, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("unknown"),
          "((data, indices, indptr) of A_uu, the same of A_uk, the number of known pixels) for the CSR matrix A "
          "and the flat bool mask ``unknown``.");
    m.def("diagonal_positions", &diagonal_positions, py::arg("indptr"), py::arg("indices"),
          "Where each row's diagonal entry sits in a square CSR matrix's data (-1: not stored).");
}
