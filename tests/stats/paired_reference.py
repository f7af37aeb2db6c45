#!/usr/bin/env python3
"""joule's paired differences (src/metrics/paired.cc) against statsmodels and SciPy.

The paired difference of two configurations is the mean of d_i = other_i - base_i; its standard
error is that of the intercept of an OLS fit of d on a constant: plain (sample standard deviation
over sqrt(n)) without clusters, cluster-robust (statsmodels cov_type='cluster' without the
small-sample correction) with them. The normal quantile is scipy.stats.norm.ppf.

Usage: paired_reference.py PAIRED_TOOL
statsmodels, SciPy and NumPy (pinned below) come from a venv this script makes once under
~/.cache/joule (PyPI); it re-executes itself there.
"""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

PINS = ["statsmodels==0.15.0", "scipy==1.17.1", "numpy==2.4.6", "pandas==3.1.1", "patsy==1.0.3"]  # as resolved for Python 3.11
VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "joule" / "stats-venv-statsmodels-0.15.0"


def ensure_venv():
    py = VENV / "bin" / "python"
    if Path(sys.executable) == py or os.environ.get("JOULE_STATS_VENV") == "1":
        return
    if not (VENV / "ok").exists():
        print(f"[stats] creating {VENV} with {' '.join(PINS)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS], check=True)
        (VENV / "ok").write_text("\n".join(PINS) + "\n")
    os.environ["JOULE_STATS_VENV"] = "1"
    os.execv(str(py), [str(py), *sys.argv])


def case(rng, n, clusters, p_flip, binary):
    """Two configurations' items: base scores, and other = base with some items changed."""
    base, other = [], []
    for i in range(n):
        cl = f"subject{rng.randrange(clusters)}" if clusters else ""
        b = float(rng.random() < 0.4) if binary else rng.random()
        o = b
        if rng.random() < p_flip:
            o = 1.0 - b if binary else min(1.0, max(0.0, b + rng.gauss(-0.05, 0.2)))
        base.append({"id": str(i), "score": b, "cluster": cl})
        other.append({"id": str(i), "score": o, "cluster": cl})
    return base, other


def main():
    ensure_venv()
    import numpy as np
    import statsmodels.api as sm
    from scipy.stats import norm

    tool = sys.argv[1]
    rng = random.Random(20261207)
    cases = [(150, 0, 0.05, True, 0.95), (600, 0, 0.10, True, 0.95), (500, 57, 0.08, True, 0.95),
             (300, 10, 0.20, True, 0.90), (400, 0, 0.5, False, 0.95), (250, 7, 0.5, False, 0.99), (40, 3, 0.3, True, 0.8)]
    failed = 0
    for n, clusters, p_flip, binary, conf in cases:
        base, other = case(rng, n, clusters, p_flip, binary)
        r = subprocess.run([tool], input=json.dumps({"confidence": conf, "base": base, "other": other}),
                           capture_output=True, text=True, check=True)
        got = json.loads(r.stdout)
        d = np.array([o["score"] - b["score"] for b, o in zip(base, other)])
        fit = sm.OLS(d, np.ones((n, 1)))
        if clusters:
            groups = np.array([int(b["cluster"][7:]) for b in base])
            res = fit.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
        else:
            res = fit.fit()
        se, z = float(res.bse[0]), float(norm.ppf(0.5 + conf / 2))
        want = {"mean_diff": float(res.params[0]), "std_err": se, "z": z,
                "ci_low": float(res.params[0]) - z * se, "ci_high": float(res.params[0]) + z * se,
                "better": int((d > 0).sum()), "worse": int((d < 0).sum()), "n": n,
                "clusters": len(set(b["cluster"] for b in base)) if clusters else n}
        bad = [k for k, v in want.items()
               if (abs(got[k] - v) > 1e-12 + 1e-9 * abs(v) if isinstance(v, float) else got[k] != v)]
        label = f"n {n}, {clusters or 'no'} clusters, {'0/1' if binary else 'graded'} items, confidence {conf}"
        if bad:
            failed += 1
            print(f"FAIL {label}: " + ", ".join(f"{k} joule {got[k]!r} statsmodels {want[k]!r}" for k in bad))
        else:
            print(f"ok   {label}: mean {want['mean_diff']:+.5f}, SE {se:.6f} (joule {got['std_err']:.6f})")
    print(f"{len(cases) - failed} of {len(cases)} agree with statsmodels {sm.__version__} / SciPy")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
