"""Write data/stations/points.shp (and its .shx, .dbf, .prj, .cpg): 60 weather stations."""

from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import Point

HERE = Path(__file__).resolve().parent


def main(count=60, seed=3):
    rng = np.random.default_rng(seed)
    lon = rng.uniform(6.0, 10.4, count)
    lat = rng.uniform(45.9, 47.7, count)
    stations = gpd.GeoDataFrame(
        {
            "name": [f"Station {i:02d}" for i in range(count)],
            "elevation": rng.integers(200, 3200, count),
            "kind": rng.choice(["auto", "manual"], count, p=[0.8, 0.2]),
        },
        geometry=[Point(x, y) for x, y in zip(lon, lat)],
        crs="EPSG:4326",
    )
    out = HERE / "data" / "stations" / "points.shp"
    out.parent.mkdir(parents=True, exist_ok=True)
    stations.to_file(out, encoding="utf-8")
    print("wrote", ", ".join(sorted(p.name for p in out.parent.iterdir())))


if __name__ == "__main__":
    main()
