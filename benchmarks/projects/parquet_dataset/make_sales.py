"""Write data/sales/: a parquet dataset partitioned by year and month (year=2024/month=1/part-0.parquet, ...)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def main(seed=11):
    rng = np.random.default_rng(seed)
    frames = []
    for year, months in ((2023, range(10, 13)), (2024, range(1, 7))):
        for month in months:
            n = int(rng.integers(80, 140))
            frames.append(
                pd.DataFrame(
                    {
                        "year": year,
                        "month": month,
                        "day": rng.integers(1, 29, n),
                        "region": rng.choice(["north", "south", "east", "west"], n),
                        "amount": rng.gamma(2.0, 40.0, n).round(2),
                    }
                )
            )
    table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
    out = HERE / "data" / "sales"
    pq.write_to_dataset(table, out, partition_cols=["year", "month"], basename_template="part-{i}.parquet")
    print("wrote", sum(1 for _ in out.rglob("*.parquet")), "parquet files under", out.relative_to(HERE))


if __name__ == "__main__":
    main()
