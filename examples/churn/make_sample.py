"""A synthetic customer-churn data set: categorical features, missing values, string labels.

No package ships such a table offline, so this script makes one, deterministically: each
customer has a plan, a region, a payment method, a tenure, a monthly fee, a count of support
calls and an age; whether they churned ("yes"/"no") follows a logistic model of those, with
noise. Some plans, payment methods and ages are missing, as in real exports.

    python examples/churn/make_sample.py            # writes examples/churn/sample.csv (600 rows)
    python examples/churn/make_sample.py 300 7 x.csv  # 300 more rows, seed 7, to drop
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

PLANS = ["basic", "standard", "premium"]
REGIONS = ["north", "south", "east", "west"]
PAYMENTS = ["card", "transfer", "cash"]


def churn_rows(n: int, seed: int, *, first_id: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    region = rng.choice(REGIONS, n)
    payment = rng.choice(PAYMENTS, n, p=[0.6, 0.3, 0.1])
    tenure = rng.integers(1, 73, n)
    fee = np.round(np.select([plan == "basic", plan == "standard"], [19.0, 39.0], 69.0) + rng.normal(0, 4, n), 2)
    calls = rng.poisson(1.5, n).clip(0, 6)
    age = np.round(rng.normal(45, 13, n).clip(18, 75))
    score = -1.0 + 0.6 * calls - 0.05 * tenure + 0.9 * (payment == "cash") + 0.5 * (plan == "basic") - 0.4 * (region == "west")
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-score)), "yes", "no")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{first_id + i:06d}" for i in range(n)],
            "plan": plan,
            "region": region,
            "payment": payment,
            "tenure_months": tenure,
            "monthly_fee": fee,
            "support_calls": calls,
            "age": age,
            "churned": churned,
        }
    )
    for column, share in (("plan", 0.03), ("payment", 0.05), ("age", 0.08)):
        frame.loc[rng.random(n) < share, column] = None
    return frame


if __name__ == "__main__":
    rows, seed = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (600, 1)
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).with_name("sample.csv")
    churn_rows(rows, seed, first_id=1 if seed == 1 else seed * 100_000).to_csv(out, index=False)
    print(f"wrote {rows} rows to {out}")
