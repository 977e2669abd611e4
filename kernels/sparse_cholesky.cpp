// A supernodal multifrontal Cholesky factorisation and solve of a sparse symmetric
// positive definite system, eliminated in a given order: the direct
// solves of python/ofx_dipmatte/engine/alpha_solve.py (direct_solve says why and when).
//
// Symbolic: the elimination tree, each column's count in L (by row subtrees), columns
// merged into supernodes (fundamental ones, then small ones relaxed into their parent by
// CHOLMOD's default thresholds: a few explicit zeros bought for dense blocks), and each
// supernode's rows below its columns. Numeric, in single or double precision, supernode
// by supernode in column order (children first): its front assembled from the matrix and
// its children's update matrices, then a dense Cholesky of the pivot block (LAPACK potrf),
// the block below it (BLAS trsm) and the update matrix passed to the parent (syrk). The
// dense work goes to the BLAS scipy ships with, whose functions scipy exports through its
// Cython modules' capsules.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

using Index = std::int64_t;
using Indices = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using Values = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Orders = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

// Fortran BLAS/LAPACK signatures, as scipy.linalg.cython_blas / cython_lapack export them.
template <class T>
struct Blas {
    using potrf_t = void(char*, int*, T*, int*, int*);
    using trsm_t = void(char*, char*, char*, char*, int*, int*, T*, T*, int*, T*, int*);
    using syrk_t = void(char*, char*, int*, int*, T*, T*, int*, T*, T*, int*);
    using gemv_t = void(char*, int*, int*, T*, T*, int*, T*, int*, T*, T*, int*);
    using trsv_t = void(char*, char*, char*, int*, T*, int*, T*, int*);
    potrf_t* potrf = nullptr;
    trsm_t* trsm = nullptr;
    syrk_t* syrk = nullptr;
    gemv_t* gemv = nullptr;
    trsv_t* trsv = nullptr;
};

Blas<float> blas_single;
Blas<double> blas_double;

template <class T>
const Blas<T>& blas();
template <>
const Blas<float>& blas<float>() { return blas_single; }
template <>
const Blas<double>& blas<double>() { return blas_double; }

template <class F>
F* exported(const char* module, const char* name) {
    py::object capsule = py::module_::import(module).attr("__pyx_capi__")[name];
    void* pointer = PyCapsule_GetPointer(capsule.ptr(), PyCapsule_GetName(capsule.ptr()));
    if (pointer == nullptr) throw py::error_already_set();
    return reinterpret_cast<F*>(pointer);
}

template <class T>
void load(Blas<T>& b, char prefix) {
    const std::string p(1, prefix);
    b.trsm = exported<typename Blas<T>::trsm_t>("scipy.linalg.cython_blas", (p + "trsm").c_str());
    b.syrk = exported<typename Blas<T>::syrk_t>("scipy.linalg.cython_blas", (p + "syrk").c_str());
    b.gemv = exported<typename Blas<T>::gemv_t>("scipy.linalg.cython_blas", (p + "gemv").c_str());
    b.trsv = exported<typename Blas<T>::trsv_t>("scipy.linalg.cython_blas", (p + "trsv").c_str());
    b.potrf = exported<typename Blas<T>::potrf_t>("scipy.linalg.cython_lapack", (p + "potrf").c_str());
}

void load_blas() {
    if (blas_double.potrf != nullptr) return;
    load(blas_single, 's');
    load(blas_double, 'd');
}

// A symmetric matrix by rows, both triangles stored (so row j is also column j).
struct Symmetric {
    Index n;
    const std::int32_t* indptr;
    const std::int32_t* indices;
    const double* data;
};

// A supernode is relaxed into its parent when the merged block has at most 4 columns,
// or at most 16 and under 80 % explicit zeros, or at most 48 and under 10 %, or any
// number and under 5 % (CHOLMOD's defaults).
bool relaxed(Index columns, double zeros) {
    return columns <= 4 || (columns <= 16 && zeros < 0.8) || (columns <= 48 && zeros < 0.1) || zeros < 0.05;
}

// Where L's entries are: its supernodes, their rows, and where their blocks lie.
struct Structure {
    Index n = 0;
    std::vector<Index> first;            // supernode s holds columns first[s] .. first[s + 1] - 1
    std::vector<Index> rows_at;          // its rows below them: rows[rows_at[s] .. rows_at[s + 1])
    std::vector<Index> rows;
    std::vector<Index> values_at;        // its block of L, (columns + rows) × columns, column-major
    std::vector<std::vector<Index>> children;  // the supernodes whose update matrices it takes

    Index supernodes() const { return static_cast<Index>(first.size()) - 1; }

    void analyse(const Symmetric& a);
};

// L's values in precision T.
template <class T>
struct Factor {
    const Structure& structure;
    std::vector<T> values;

    void factorise(const Symmetric& a);  // throws where a pivot is not positive
    void solve(T* x) const;              // x ← L⁻ᵀ L⁻¹ x
};

void Structure::analyse(const Symmetric& a) {
    n = a.n;
    // The elimination tree (Liu's algorithm with path compression).
    std::vector<Index> tree(n, -1), ancestor(n, -1);  // tree: each column's parent
    for (Index k = 0; k < n; ++k) {
        for (Index p = a.indptr[k]; p < a.indptr[k + 1]; ++p) {
            for (Index i = a.indices[p]; i != -1 && i < k;) {
                const Index next = ancestor[i];
                ancestor[i] = k;
                if (next == -1) tree[i] = k;
                i = next;
            }
        }
    }
    // Each column's count in L: row k of L holds the columns of its row subtree, the
    // tree's nodes from each of A's entries left of the diagonal up to k.
    std::vector<Index> count(n, 1), mark(n, -1), child_count(n, 0);
    for (Index k = 0; k < n; ++k) {
        mark[k] = k;
        for (Index p = a.indptr[k]; p < a.indptr[k + 1]; ++p) {
            for (Index j = a.indices[p]; j < k && mark[j] != k; j = tree[j]) {
                mark[j] = k;
                ++count[j];
            }
        }
        if (tree[k] != -1) ++child_count[tree[k]];
    }
    // Fundamental supernodes: a column joins the one before it when it is that column's
    // parent, its only child, and has the same rows below.
    std::vector<Index> fundamental{0};
    for (Index j = 1; j < n; ++j)
        if (!(tree[j - 1] == j && count[j - 1] == count[j] + 1 && child_count[j] == 1)) fundamental.push_back(j);
    fundamental.push_back(n);
    // Relaxed: a supernode merged with the one after it when that is its parent and the
    // merged block stays small or dense enough.
    const Index fcount = static_cast<Index>(fundamental.size()) - 1;
    std::vector<Index> snode_of(n);
    for (Index s = 0; s < fcount; ++s)
        for (Index j = fundamental[s]; j < fundamental[s + 1]; ++j) snode_of[j] = s;
    first.assign(1, 0);
    Index start = 0;       // first column of the supernode being grown
    double nonzeros = 0;   // its true nonzeros in L
    for (Index s = 0; s < fcount; ++s) {
        for (Index j = fundamental[s]; j < fundamental[s + 1]; ++j) nonzeros += static_cast<double>(count[j]);
        const Index last = fundamental[s + 1] - 1;
        bool merge = false;
        if (s + 1 < fcount && tree[last] != -1 && snode_of[tree[last]] == s + 1) {
            // The merged block: columns start .. end of the next one, rows below as the next one's.
            const Index next_first = fundamental[s + 1], next_last = fundamental[s + 2] - 1;
            const Index columns = next_last - start + 1;
            const Index below = count[next_first] - (next_last - next_first + 1);
            double next_nonzeros = 0;
            for (Index j = next_first; j <= next_last; ++j) next_nonzeros += static_cast<double>(count[j]);
            const double dense = static_cast<double>(columns) * static_cast<double>(columns + 1) / 2.0 +
                                 static_cast<double>(columns) * static_cast<double>(below);
            const double zeros = (dense - nonzeros - next_nonzeros) / dense;
            merge = relaxed(columns, zeros);
        }
        if (!merge) {
            first.push_back(last + 1);
            start = last + 1;
            nonzeros = 0;
        }
    }
    // Each supernode's rows below its columns: its columns' entries of A there, and its
    // children's rows past its own columns.
    const Index count_s = supernodes();
    std::vector<Index> owner(n);
    for (Index s = 0; s < count_s; ++s)
        for (Index j = first[s]; j < first[s + 1]; ++j) owner[j] = s;
    children.assign(count_s, {});
    for (Index s = 0; s < count_s; ++s) {
        const Index up = tree[first[s + 1] - 1];
        if (up != -1) children[owner[up]].push_back(s);
    }
    std::fill(mark.begin(), mark.end(), -1);
    rows_at.assign(1, 0);
    rows.clear();
    values_at.assign(1, 0);
    std::vector<Index> found;
    for (Index s = 0; s < count_s; ++s) {
        const Index last = first[s + 1] - 1;
        found.clear();
        for (Index j = first[s]; j <= last; ++j)
            for (Index p = a.indptr[j]; p < a.indptr[j + 1]; ++p) {
                const Index i = a.indices[p];
                if (i > last && mark[i] != s) mark[i] = s, found.push_back(i);
            }
        for (Index kid : children[s])
            for (Index p = rows_at[kid]; p < rows_at[kid + 1]; ++p) {
                const Index i = rows[p];
                if (i > last && mark[i] != s) mark[i] = s, found.push_back(i);
            }
        std::sort(found.begin(), found.end());
        rows.insert(rows.end(), found.begin(), found.end());
        rows_at.push_back(static_cast<Index>(rows.size()));
        const Index columns = last - first[s] + 1;
        values_at.push_back(values_at.back() + (columns + static_cast<Index>(found.size())) * columns);
    }
}

template <class T>
void Factor<T>::factorise(const Symmetric& a) {
    const Structure& st = structure;
    const Blas<T>& b = blas<T>();
    const Index count_s = st.supernodes();
    values.assign(static_cast<size_t>(st.values_at.back()), T(0));
    std::vector<Index> local(st.n, -1);
    std::vector<std::vector<T>> update(count_s);  // each supernode's, until its parent takes it
    std::vector<T> front;
    for (Index s = 0; s < count_s; ++s) {
        const Index f = st.first[s], columns = st.first[s + 1] - f;
        const Index below = st.rows_at[s + 1] - st.rows_at[s], size = columns + below;
        for (Index c = 0; c < columns; ++c) local[f + c] = c;
        for (Index r = 0; r < below; ++r) local[st.rows[st.rows_at[s] + r]] = columns + r;
        front.assign(static_cast<size_t>(size * size), T(0));  // column-major, lower triangle used
        for (Index c = 0; c < columns; ++c) {
            const Index j = f + c;
            for (Index p = a.indptr[j]; p < a.indptr[j + 1]; ++p) {
                const Index i = a.indices[p];
                if (i >= j) front[static_cast<size_t>(c * size + local[i])] += static_cast<T>(a.data[p]);
            }
        }
        for (Index kid : st.children[s]) {  // extend-add: the children's rows all lie in this front
            const Index* kid_rows = st.rows.data() + st.rows_at[kid];
            const Index m = st.rows_at[kid + 1] - st.rows_at[kid];
            const std::vector<T>& u = update[kid];
            for (Index cb = 0; cb < m; ++cb) {
                T* column = front.data() + local[kid_rows[cb]] * size;
                const T* from = u.data() + cb * m;
                for (Index rb = cb; rb < m; ++rb) column[local[kid_rows[rb]]] += from[rb];
            }
            std::vector<T>().swap(update[kid]);
        }
        int nc = static_cast<int>(columns), nb = static_cast<int>(below), ld = static_cast<int>(size), info = 0;
        char lower = 'L', right = 'R', transpose = 'T', no = 'N';
        T one = 1, minus_one = -1;
        b.potrf(&lower, &nc, front.data(), &ld, &info);
        if (info != 0) throw std::runtime_error("sparse Cholesky: the matrix is not positive definite");
        if (below > 0) {
            T* l21 = front.data() + columns;
            b.trsm(&right, &lower, &transpose, &no, &nb, &nc, &one, front.data(), &ld, l21, &ld);
            T* l22 = front.data() + columns * size + columns;
            b.syrk(&lower, &no, &nb, &nc, &minus_one, l21, &ld, &one, l22, &ld);
            std::vector<T>& u = update[s];
            u.resize(static_cast<size_t>(below * below));
            for (Index c = 0; c < below; ++c)
                std::copy(l22 + c * size + c, l22 + c * size + below, u.data() + c * below + c);
        }
        T* block = values.data() + st.values_at[s];
        for (Index c = 0; c < columns; ++c)
            std::copy(front.data() + c * size, front.data() + c * size + size, block + c * size);
    }
}

template <class T>
void Factor<T>::solve(T* x) const {
    const Structure& st = structure;
    const Blas<T>& b = blas<T>();
    const Index count_s = st.supernodes();
    std::vector<T> part;
    int incx = 1;
    char lower = 'L', transpose = 'T', no = 'N';
    T one = 1, minus_one = -1, zero = 0;
    for (Index s = 0; s < count_s; ++s) {  // L y = b
        const Index f = st.first[s], columns = st.first[s + 1] - f, below = st.rows_at[s + 1] - st.rows_at[s];
        int nc = static_cast<int>(columns), nb = static_cast<int>(below), ld = static_cast<int>(columns + below);
        T* block = const_cast<T*>(values.data() + st.values_at[s]);
        b.trsv(&lower, &no, &no, &nc, block, &ld, x + f, &incx);
        if (below == 0) continue;
        part.assign(static_cast<size_t>(below), T(0));
        b.gemv(&no, &nb, &nc, &one, block + columns, &ld, x + f, &incx, &zero, part.data(), &incx);
        for (Index r = 0; r < below; ++r) x[st.rows[st.rows_at[s] + r]] -= part[r];
    }
    for (Index s = count_s - 1; s >= 0; --s) {  // Lᵀ x = y
        const Index f = st.first[s], columns = st.first[s + 1] - f, below = st.rows_at[s + 1] - st.rows_at[s];
        int nc = static_cast<int>(columns), nb = static_cast<int>(below), ld = static_cast<int>(columns + below);
        T* block = const_cast<T*>(values.data() + st.values_at[s]);
        if (below > 0) {
            part.resize(static_cast<size_t>(below));
            for (Index r = 0; r < below; ++r) part[r] = x[st.rows[st.rows_at[s] + r]];
            b.gemv(&transpose, &nb, &nc, &minus_one, block + columns, &ld, part.data(), &incx, &one, x + f, &incx);
        }
        b.trsv(&lower, &transpose, &no, &nc, block, &ld, x + f, &incx);
    }
}

// A x for the symmetric matrix by rows.
void multiply(const Symmetric& a, const double* x, double* out) {
    for (Index i = 0; i < a.n; ++i) {
        double sum = 0.0;
        for (Index p = a.indptr[i]; p < a.indptr[i + 1]; ++p) sum += a.data[p] * x[a.indices[p]];
        out[i] = sum;
    }
}

// x with A x = b, from factors in precision T and ``refinements`` steps of iterative
// refinement (residual in double, correction from the same factors).
template <class T>
void solve_refined(const Symmetric& a, const Structure& structure, const double* b, double* x, int refinements) {
    Factor<T> factor{structure, {}};
    factor.factorise(a);
    const Index n = a.n;
    std::vector<T> work(b, b + n);
    factor.solve(work.data());
    std::copy(work.begin(), work.end(), x);
    std::vector<double> product(static_cast<size_t>(n));
    for (int step = 0; step < refinements; ++step) {
        multiply(a, x, product.data());
        for (Index i = 0; i < n; ++i) work[i] = static_cast<T>(b[i] - product[i]);
        factor.solve(work.data());
        for (Index i = 0; i < n; ++i) x[i] += static_cast<double>(work[i]);
    }
}

// The matrix given by rows, its rows and columns put in ``order`` (new index k holds old
// index order[k]): each row's entries in the order they were stored, as scipy's
// A[order][:, order] gives them, so the sums over a row are the same.
struct Permuted {
    std::vector<std::int32_t> indptr, indices;
    std::vector<double> data;

    Permuted(const Symmetric& a, const std::int64_t* order) : indptr(a.n + 1, 0) {
        std::vector<std::int32_t> inverse(a.n);
        for (Index k = 0; k < a.n; ++k) inverse[order[k]] = static_cast<std::int32_t>(k);
        for (Index k = 0; k < a.n; ++k) indptr[k + 1] = indptr[k] + (a.indptr[order[k] + 1] - a.indptr[order[k]]);
        indices.resize(static_cast<size_t>(indptr[a.n]));
        data.resize(indices.size());
        for (Index k = 0; k < a.n; ++k)
            for (Index p = a.indptr[order[k]], q = indptr[k]; p < a.indptr[order[k] + 1]; ++p, ++q)
                indices[q] = inverse[a.indices[p]], data[q] = a.data[p];
    }

    Symmetric matrix(Index n) const { return {n, indptr.data(), indices.data(), data.data()}; }
};

py::array_t<double> solve_spd(const Indices& indptr, const Indices& indices, const Values& data, const Values& rhs,
                              const Orders& order, bool single, int refinements) {
    const Index n = static_cast<Index>(rhs.size());
    if (indptr.ndim() != 1 || indptr.size() != n + 1 || indices.size() != data.size() ||
        (n > 0 && indptr.at(n) != indices.size()))
        throw std::invalid_argument("solve_spd: indptr, indices and data must be an n×n matrix by rows, rhs n long");
    if (order.ndim() != 1 || order.size() != n)
        throw std::invalid_argument("solve_spd: order must be a permutation of the n unknowns");
    load_blas();
    const Symmetric given{n, indptr.data(), indices.data(), data.data()};
    for (Index p = 0; p < static_cast<Index>(indices.size()); ++p)
        if (given.indices[p] < 0 || given.indices[p] >= n)
            throw std::invalid_argument("solve_spd: a column index is out of range");
    std::vector<bool> seen(static_cast<size_t>(n), false);
    for (Index k = 0; k < n; ++k) {
        const std::int64_t i = order.data()[k];
        if (i < 0 || i >= n || seen[static_cast<size_t>(i)])
            throw std::invalid_argument("solve_spd: order must be a permutation of the n unknowns");
        seen[static_cast<size_t>(i)] = true;
    }
    py::array_t<double> out(n);
    if (n == 0) return out;
    {
        py::gil_scoped_release release;  // tiles solve side by side on threads
        const std::int64_t* o = order.data();
        const Permuted permuted(given, o);
        const Symmetric a = permuted.matrix(n);
        std::vector<double> b(static_cast<size_t>(n)), x(static_cast<size_t>(n));
        for (Index k = 0; k < n; ++k) b[k] = rhs.data()[o[k]];
        Structure structure;
        structure.analyse(a);
        if (single)
            solve_refined<float>(a, structure, b.data(), x.data(), refinements);
        else
            solve_refined<double>(a, structure, b.data(), x.data(), refinements);
        double* result = out.mutable_data();
        for (Index k = 0; k < n; ++k) result[o[k]] = x[k];
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_sparse_cholesky, m) {
    m.doc() = "Supernodal multifrontal Cholesky solve of a sparse symmetric positive definite system.";
    m.def("solve_spd", &solve_spd, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("rhs"),
          py::arg("order"), py::arg("single") = false, py::arg("refinements") = 0,
          "x with A x = rhs, A symmetric positive definite given by rows (both triangles), eliminated in "
          "``order``; factors in single precision if ``single``, then ``refinements`` steps of iterative "
          "refinement in double. Raises RuntimeError where a pivot is not positive.");
}
