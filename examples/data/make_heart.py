"""Generate the synthetic ``heart.csv`` dataset bundled with the dockermagic example.

The data are entirely synthetic (no download, no real patients). Columns look
like a classic heart-disease table; the binary target ``disease`` is rare
(about 10 % positives) and depends on the features through a noisy logistic
model, so a linear classifier reaches a ROC AUC of roughly 0.8-0.9.

Usage (from any directory)::

    python examples/data/make_heart.py

Only numpy is required. The output is deterministic (fixed seed).
"""

from pathlib import Path

import numpy as np

SEED = 20240611
N_ROWS = 2400
TARGET_RATE = 0.10
OUT = Path(__file__).resolve().parent / "heart.csv"

CHEST_PAIN = np.array(["typical", "atypical", "non_anginal", "asymptomatic"])
RESTING_ECG = np.array(["normal", "st_t_abnormality", "lv_hypertrophy"])
ST_SLOPE = np.array(["up", "flat", "down"])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def generate(n=N_ROWS, seed=SEED):
    rng = np.random.default_rng(seed)

    # Latent cardiovascular risk: drives several observed columns and the target.
    age = np.clip(rng.normal(54, 9.5, n), 29, 80).round().astype(int)
    sex = (rng.random(n) < 0.62).astype(int)  # 1 = male
    latent = 0.06 * (age - 54) + 0.5 * sex + rng.normal(0, 1, n)

    resting_bp = np.clip(rng.normal(128 + 0.45 * (age - 54) + 3 * latent, 15, n), 90, 200).round().astype(int)
    cholesterol = np.clip(rng.normal(235 + 8 * latent, 45, n), 120, 500).round().astype(int)
    fasting_bs = (rng.random(n) < _sigmoid(-1.8 + 0.5 * latent)).astype(int)
    max_heart_rate = np.clip(
        rng.normal(210 - 0.95 * age - 6 * latent, 16, n), 70, 202
    ).round().astype(int)

    # Chest pain: asymptomatic becomes more frequent with higher risk.
    cp_logits = np.column_stack(
        [np.full(n, -0.6), np.full(n, 0.1), np.full(n, 0.4), 0.2 + 0.9 * latent]
    )
    cp_prob = np.exp(cp_logits)
    cp_prob /= cp_prob.sum(axis=1, keepdims=True)
    cp_idx = (rng.random((n, 1)) > np.cumsum(cp_prob, axis=1)).sum(axis=1)
    chest_pain_type = CHEST_PAIN[cp_idx]

    exercise_angina = (rng.random(n) < _sigmoid(-1.2 + 0.8 * latent + 0.6 * (cp_idx == 3))).astype(int)
    oldpeak = np.clip(rng.gamma(1.3, 0.6, n) + 0.35 * latent + 0.5 * exercise_angina, 0, 6.2).round(1)

    ecg_idx = rng.choice(3, size=n, p=[0.62, 0.22, 0.16])
    resting_ecg = RESTING_ECG[ecg_idx]

    slope_score = oldpeak + rng.normal(0, 0.7, n)
    slope_idx = np.digitize(slope_score, [0.9, 2.6])
    st_slope = ST_SLOPE[slope_idx]

    # Disease model (log-odds), intercept chosen so that ~TARGET_RATE are positive.
    z = (
        0.45 * latent
        + 0.035 * (age - 54)
        + 0.55 * sex
        + 0.010 * (resting_bp - 128)
        + 0.004 * (cholesterol - 235)
        + 0.35 * fasting_bs
        - 0.022 * (max_heart_rate - 158)
        + 0.85 * exercise_angina
        + 0.45 * oldpeak
        + 0.9 * (cp_idx == 3)
        + 0.25 * (ecg_idx == 1)
        + 0.55 * (slope_idx >= 1)
        + rng.normal(0, 0.6, n)  # unexplained variation
    )
    lo, hi = -15.0, 5.0
    for _ in range(60):  # bisection on the intercept (deterministic)
        mid = (lo + hi) / 2
        if _sigmoid(z + mid).mean() > TARGET_RATE:
            hi = mid
        else:
            lo = mid
    disease = (rng.random(n) < _sigmoid(z + lo)).astype(int)

    columns = {
        "age": age,
        "sex": np.where(sex == 1, "M", "F"),
        "chest_pain_type": chest_pain_type,
        "resting_bp": resting_bp,
        "cholesterol": cholesterol,
        "fasting_bs": fasting_bs,
        "resting_ecg": resting_ecg,
        "max_heart_rate": max_heart_rate,
        "exercise_angina": exercise_angina,
        "oldpeak": oldpeak,
        "st_slope": st_slope,
        "disease": disease,
    }
    return columns


def write_csv(columns, path=OUT):
    names = list(columns)
    rows = zip(*(columns[name] for name in names))
    with open(path, "w", newline="\n") as fh:
        fh.write(",".join(names) + "\n")
        for row in rows:
            fh.write(",".join(str(v) for v in row) + "\n")


if __name__ == "__main__":
    cols = generate()
    write_csv(cols)
    y = cols["disease"]
    print(f"wrote {OUT} ({len(y)} rows, {y.mean():.1%} positives)")
