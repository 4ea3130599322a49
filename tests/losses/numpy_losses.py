"""NumPy (float64) implementations of the loss equations, the references of the loss tests."""

import numpy as np


def np_cosine_distance(x, y):
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    return 1.0 - np.sum(x * y, axis=-1)


def np_logexp(x, y, p, normalization="p_dim"):
    """log(1 + sum_i (exp(|x_i - y_i|^p) - 1)) / Z, stably in float64 for huge exponents."""
    a = np.abs(x.astype(np.float64) - y) ** p
    m = a.max(axis=-1, keepdims=True)
    # 1 + S = exp(M) * (exp(-M) + sum_i (exp(a_i - M) - exp(-M)))
    value = m[..., 0] + np.log(np.exp(-m[..., 0]) + np.sum(np.exp(a - m) - np.exp(-m), axis=-1))
    small = m[..., 0] < 50
    value[small] = np.log1p(np.sum(np.expm1(a[small]), axis=-1))
    z = {"p_dim": p * a.shape[-1], "dim": a.shape[-1], "p": p, "none": 1.0}[normalization]
    return value / z


def np_logexp_grad_wrt_y(x, y, p, normalization="p_dim"):
    """dL/dy_i = exp(a_i) p |y_i - x_i|^(p-1) sign(y_i - x_i) / ((1 + S) Z), a_i = |y_i - x_i|^p."""
    d = y.astype(np.float64) - x
    a = np.abs(d) ** p
    m = a.max(axis=-1, keepdims=True)
    # exp(a_i) / (1 + S) = exp(a_i - M) / (exp(-M) + sum_j (exp(a_j - M) - exp(-M))), no overflow
    softmax_like = np.exp(a - m) / (np.exp(-m) + np.sum(np.exp(a - m) - np.exp(-m), axis=-1, keepdims=True))
    z = {"p_dim": p * a.shape[-1], "dim": a.shape[-1], "p": p, "none": 1.0}[normalization]
    return softmax_like * p * np.abs(d) ** (p - 1.0) * np.sign(d) / z


def np_mmd2(x, y, sigmas=None, num_kernels=5, kernel_mul=2.0, estimator="biased"):
    """Gretton et al. 2012: unbiased (Lemma 6) or biased (all pairs) MMD^2 with the multi-kernel
    k = sum_u beta_u k_u, equal weights beta_u = 1/U summing to 1 (Gretton et al. 2012b; DAN, Long et al. 2015)."""
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    z = np.concatenate([x, y])
    sq = np.sum((z[:, None] - z[None]) ** 2, axis=-1)
    n_all = len(z)
    if sigmas is None:
        base = sq.sum() / (n_all * n_all - n_all)
        bandwidths = [base * kernel_mul ** (u - num_kernels // 2) for u in range(num_kernels)]
    else:
        bandwidths = [2.0 * s**2 for s in sigmas]
    k = sum(np.exp(-sq / bw) for bw in bandwidths) / len(bandwidths)
    m, n = len(x), len(y)
    kxx, kyy, kxy = k[:m, :m], k[m:, m:], k[:m, m:]
    if estimator == "biased":
        return kxx.sum() / m**2 + kyy.sum() / n**2 - 2.0 * kxy.sum() / (m * n)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
            - 2.0 * kxy.sum() / (m * n))


def np_log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
