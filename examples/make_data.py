"""Generate the synthetic customer-churn table the example notebook trains on.

The data is made up but shaped like a telecom churn table, so the notebook reads like real work:
churn rises with month-to-month contracts, short tenure, fibre plans, electronic-check payments and
support calls, plus enough noise that a small random forest reaches an AUC around 0.8 rather than 1.0.

The output must be byte-identical on every run (its md5 is what the tracker, and later DVC, compare),
so everything comes from one seeded generator and floats are written with a fixed format. numpy does not
promise the same random stream across releases, which is why the CSV itself is committed.

    python examples/make_data.py            # writes examples/data/churn.csv
    python examples/make_data.py --seed 8 --shift monthly_charges=15 --out /tmp/churn.csv
                                            # a new batch whose monthly charges moved up (drift demo)
    python examples/make_data.py --seed 8 --shift monthly_charges=15 --features --out batch.csv
                                            # the same batch as the model's inputs, to POST as text/csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "churn.csv"

CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENTS = ["electronic check", "mailed check", "bank transfer", "credit card"]
INTERNET = ["dsl", "fiber optic", "none"]


def make_churn(n_rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    """Draw `n_rows` customers whose churn depends on their features through a noisy logistic model."""
    rng = np.random.default_rng(seed)

    contract = rng.choice(CONTRACTS, size=n_rows, p=[0.55, 0.24, 0.21])
    # Customers on longer contracts have, on average, stayed longer.
    mean_tenure = np.select([contract == "month-to-month", contract == "one-year"], [16.0, 34.0], 48.0)
    tenure = np.clip(rng.gamma(shape=2.0, scale=mean_tenure / 2.0), 1, 72).round().astype(int)

    internet = rng.choice(INTERNET, size=n_rows, p=[0.34, 0.44, 0.22])
    base_charge = np.select([internet == "dsl", internet == "fiber optic"], [55.0, 80.0], 22.0)
    monthly = np.clip(base_charge + rng.normal(0.0, 12.0, n_rows), 18.0, 120.0).round(2)
    # Prices drift over a customer's life, so the total is close to, not exactly, tenure x monthly.
    total = (tenure * monthly * rng.normal(1.0, 0.05, n_rows)).clip(min=monthly).round(2)

    payment = rng.choice(PAYMENTS, size=n_rows, p=[0.34, 0.22, 0.22, 0.22])
    senior = (rng.random(n_rows) < 0.16).astype(int)
    support_calls = rng.poisson(np.where(internet == "fiber optic", 2.0, 1.2))

    logit = (
        -1.3
        + np.select([contract == "month-to-month", contract == "one-year"], [1.2, -0.4], -1.4)
        - 0.035 * tenure
        + 0.012 * (monthly - 65.0)
        + np.where(internet == "fiber optic", 0.45, 0.0)
        + np.where(payment == "electronic check", 0.55, 0.0)
        + 0.28 * support_calls
        + 0.35 * senior
        + rng.normal(0.0, 0.7, n_rows)  # what the table does not capture: moves, competitors, moods
    )
    churned = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(1, n_rows + 1)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": contract,
            "payment_method": payment,
            "support_calls": support_calls,
            "internet_service": internet,
            "senior": senior,
            "churned": churned,
        }
    )


def shifted(df: pd.DataFrame, shifts: list[str]) -> pd.DataFrame:
    """``COLUMN=DELTA`` adds DELTA to a numeric column after the draw: only that column's distribution moves
    (churn was drawn from the unshifted values), which is what `jupyter mlops drift` should point at."""
    for shift in shifts:
        column, sep, delta = shift.partition("=")
        if not sep or column not in df.columns:
            raise SystemExit(f"--shift {shift}: expected COLUMN=DELTA with COLUMN one of {', '.join(df.columns)}")
        df[column] = (df[column] + float(delta)).round(2)
    return df


def features(df: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs as the notebook makes them (``pd.get_dummies`` of the categories), every indicator
    column present even when a small batch lacks a category, so a served model accepts the file as it is."""
    categories = {"contract": CONTRACTS, "payment_method": PAYMENTS, "internet_service": INTERNET}
    X = df.drop(columns=["customer_id", "churned"])
    for column, values in categories.items():
        X[column] = pd.Categorical(X[column], categories=sorted(values))
    return pd.get_dummies(X, columns=list(categories), dtype=int)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--shift", action="append", default=[], metavar="COLUMN=DELTA",
                        help="add DELTA to a numeric column (repeatable): a drifted batch")
    parser.add_argument("--features", action="store_true",
                        help="write the model's inputs (one-hot encoded as the notebook does), not the table")
    args = parser.parse_args()

    df = shifted(make_churn(args.rows, args.seed), args.shift)
    churn_rate = df["churned"].mean()
    if args.features:
        df = features(df)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Fixed float format and line ending keep the file byte-identical across platforms and pandas versions.
    df.to_csv(args.out, index=False, float_format="%.2f", lineterminator="\n")
    print(f"wrote {len(df)} rows to {args.out} (churn rate {churn_rate:.1%})")


if __name__ == "__main__":
    main()
