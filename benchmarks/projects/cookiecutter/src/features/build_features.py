"""From the raw customer table to model inputs."""

import pandas as pd

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "charge_per_tenure_month", "is_monthly"]
TARGET = "churned"


def add_features(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with the derived columns the models use."""
    out = df.copy()
    out["charge_per_tenure_month"] = out["monthly_charges"] / out["tenure_months"].clip(lower=1)
    out["is_monthly"] = (out["contract"] == "monthly").astype(int)
    out["tenure_band"] = pd.cut(out["tenure_months"], bins=[0, 12, 24, 48, 72], labels=["<1y", "1-2y", "2-4y", "4-6y"])
    return out


def split_xy(df: pd.DataFrame):
    """``(X, y)``: the feature columns and the target."""
    return df[FEATURES], df[TARGET]
