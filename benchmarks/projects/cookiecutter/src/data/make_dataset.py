"""Write data/raw/customers.csv: a small synthetic customer table (run from anywhere)."""

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def main(rows=400, seed=7):
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows)
    charges = rng.normal(65, 20, rows).clip(15, 130).round(2)
    calls = rng.poisson(1.5, rows)
    contract = rng.choice(["monthly", "yearly", "two-year"], rows, p=[0.55, 0.3, 0.15])
    logit = -1.2 + 0.45 * calls - 0.04 * tenure + 0.015 * (charges - 65) + (contract == "monthly") * 0.9
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    table = pd.DataFrame(
        {
            "customer_id": [f"C{i:04d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "contract": contract,
            "churned": churned,
        }
    )
    out = ROOT / "data" / "raw" / "customers.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"wrote {len(table)} rows to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
