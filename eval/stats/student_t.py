"""The Student-t distribution without scipy: the regularized incomplete beta function (a continued
fraction), the CDF, the density and the quantile (tests/test_eval_stats.py checks table values)."""
import functools
import math


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) = B(x; a, b) / B(a, b), by the continued fraction of the incomplete beta function,
    evaluated where it converges fast (x < (a+1)/(a+b+2)) and otherwise via I_x(a,b) = 1 − I_{1−x}(b,a)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - regularized_beta(1.0 - x, b, a)
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    return math.exp(log_front) / a * _beta_continued_fraction(x, a, b)


def _beta_continued_fraction(x: float, a: float, b: float, tolerance: float = 1e-15) -> float:
    """1 / (1 + d_1 / (1 + d_2 / (1 + …))) with d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)) and
    d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)), by the modified Lentz method."""
    tiny = 1e-300

    def guard(value):
        return value if abs(value) > tiny else tiny

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    fraction = d
    for m in range(1, 1000):
        for coefficient in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 / guard(1.0 + coefficient * d)
            c = guard(1.0 + coefficient / c)
            fraction *= c * d
        if abs(c * d - 1.0) < tolerance:
            break
    return fraction


def t_cdf(t: float, df: float) -> float:
    """F_ν(t) of Student's t with ν = df > 0 degrees of freedom: for t ≥ 0,
    F_ν(t) = 1 − ½ I_{ν/(ν+t²)}(ν/2, ½), and F_ν(−t) = 1 − F_ν(t)."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * regularized_beta(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


def t_pdf(t: float, df: float) -> float:
    """f_ν(t) = Γ((ν+1)/2) / (√(νπ) Γ(ν/2)) · (1 + t²/ν)^(−(ν+1)/2)."""
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """t with F_ν(t) = p: Newton steps on the CDF, kept inside a bracket that halves when a step
    would leave it; t_{1−p} = −t_p."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile needs 0 < p < 1, got {p}")
    if p <= 0.5:
        return 0.0 if p == 0.5 else -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    t = (low + high) / 2
    for _ in range(200):
        excess = t_cdf(t, df) - p
        step = excess / t_pdf(t, df)
        if abs(step) <= 1e-14 * max(1.0, t) or high - low <= 1e-14 * high:
            return t - step
        low, high = (low, t) if excess > 0 else (t, high)
        t = t - step if low < t - step < high else (low + high) / 2
    return t
