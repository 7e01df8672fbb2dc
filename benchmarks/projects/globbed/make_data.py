"""Write the shop's exports: data/stores/<store>.csv (one file per store) and data/daily/day_<n>.csv (one per day)."""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main(seed=5):
    rng = np.random.default_rng(seed)
    stores = HERE / "data" / "stores"
    daily = HERE / "data" / "daily"
    stores.mkdir(parents=True, exist_ok=True)
    daily.mkdir(parents=True, exist_ok=True)
    for store in ("basel", "bern", "geneva", "zurich"):
        n = 30
        pd.DataFrame(
            {
                "date": pd.date_range("2024-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                "revenue": rng.normal(1200, 300, n).round(2),
                "orders": rng.poisson(40, n),
            }
        ).to_csv(stores / f"{store}.csv", index=False)
    for day in range(1, 8):
        n = 24
        pd.DataFrame({"hour": range(n), "visitors": rng.poisson(30 + 5 * day, n)}).to_csv(
            daily / f"day_{day}.csv", index=False
        )
    print("wrote 4 store files and 7 daily files under data/")


if __name__ == "__main__":
    main()
