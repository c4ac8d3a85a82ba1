""" "Because you bought X" recommendations from co-purchases, as pure functions.

Two products are bought together when they are lines of the same order. A candidate product's
score for a person is the number of orders in which it was bought together with any product the
person owns, summed over what they own. Products the person ever ordered are never recommended.
When co-purchases give fewer than the slots to fill, the favourite category's best sellers fill
the rest, then the best sellers overall. Ties are broken by best-seller rank, then by sku, so
the same orders always give the same recommendations.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

RECOMMENDATION_COLUMNS = {
    "customer_id": pl.String,
    "rank": pl.Int64,
    "sku": pl.String,
    "name": pl.String,
    "basis": pl.String,  # co_purchase, category_best_seller or best_seller
    "because_sku": pl.String,
    "because_name": pl.String,
}

# Tiers in the order they fill a person's slots.
BASES = ("co_purchase", "category_best_seller", "best_seller")


def bought_together(order_lines: pl.DataFrame) -> pl.DataFrame:
    """sku, other_sku and `orders`: the number of orders holding both; both directions listed."""
    baskets = order_lines.select("order_id", "sku").unique()
    return (
        baskets.join(baskets.rename({"sku": "other_sku"}), on="order_id")
        .filter(pl.col("sku") != pl.col("other_sku"))
        .group_by("sku", "other_sku")
        .agg(pl.len().cast(pl.Int64).alias("orders"))
    )


def best_sellers(order_lines: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """Catalogued products that sold, with `orders` (distinct orders) and `popularity_rank`."""
    sold = (
        order_lines.select("order_id", "sku")
        .unique()
        .group_by("sku")
        .agg(pl.len().cast(pl.Int64).alias("orders"))
    )
    return (
        products.select("sku", "name", "category")
        .join(sold, on="sku", how="inner")
        .sort(pl.col("orders"), pl.col("sku"), descending=[True, False])
        .with_row_index("popularity_rank", offset=1)
        .with_columns(pl.col("popularity_rank").cast(pl.Int64))
    )


def recommend_products(
    customers: pl.DataFrame,
    order_lines: pl.DataFrame,
    products: pl.DataFrame,
    *,
    per_person: int,
    counted_statuses: Sequence[str],
) -> pl.DataFrame:
    """Up to `per_person` products per customer, ranked 1.., never one they ordered.

    `customers`: customer_id, favourite_category (nullable).
    `order_lines`: order_id, customer_id (null when the buyer is not a known customer), sku,
    status; every line of every buyer, because co-purchases are learned from all orders.
    `products`: sku, name, category; one row per sku, the only products recommended.
    Returns RECOMMENDATION_COLUMNS; `because_*` names the owned product that contributes most
    to a co_purchase recommendation.
    """
    counted = order_lines.filter(pl.col("status").is_in(list(counted_statuses)))
    popularity = best_sellers(counted, products)
    owned = (
        order_lines.filter(pl.col("customer_id").is_not_null())
        .select("customer_id", "sku")
        .unique()
        .join(customers.select("customer_id"), on="customer_id", how="semi")
    )
    ranking = popularity.select("sku", "name", "popularity_rank")

    co_purchased = (
        owned.join(bought_together(counted), on="sku")
        .rename({"sku": "because_sku", "other_sku": "sku"})
        # The owned product behind the recommendation: the one bought with it most often.
        .sort(pl.col("orders"), pl.col("because_sku"), descending=[True, False])
        .group_by("customer_id", "sku", maintain_order=True)
        .agg(pl.col("orders").sum().alias("score"), pl.col("because_sku").first())
        .with_columns(pl.lit(BASES[0]).alias("basis"), pl.lit(0).alias("tier"))
    )

    # A person owns at most this many products, so that many best sellers plus the slots are
    # always enough to fill the slots after removing what they own.
    depth = per_person + int(
        owned.group_by("customer_id").len().select(pl.col("len").max().fill_null(0)).item()
    )
    top_in_category = popularity.sort("popularity_rank").group_by("category").head(depth)
    category_fill = (
        customers.filter(pl.col("favourite_category").is_not_null())
        .join(
            top_in_category.select(pl.col("category").alias("favourite_category"), "sku"),
            on="favourite_category",
        )
        .select(
            "customer_id",
            "sku",
            pl.lit(0, dtype=pl.Int64).alias("score"),
            pl.lit(None, dtype=pl.String).alias("because_sku"),
            pl.lit(BASES[1]).alias("basis"),
            pl.lit(1).alias("tier"),
        )
    )
    overall_fill = (
        customers.select("customer_id")
        .join(popularity.sort("popularity_rank").head(depth).select("sku"), how="cross")
        .select(
            "customer_id",
            "sku",
            pl.lit(0, dtype=pl.Int64).alias("score"),
            pl.lit(None, dtype=pl.String).alias("because_sku"),
            pl.lit(BASES[2]).alias("basis"),
            pl.lit(2).alias("tier"),
        )
    )

    candidates = (
        pl.concat([co_purchased, category_fill, overall_fill], how="vertical_relaxed")
        .join(owned, on=["customer_id", "sku"], how="anti")
        .join(ranking, on="sku", how="inner")
        .sort(
            ["customer_id", "tier", "score", "popularity_rank", "sku"],
            descending=[False, False, True, False, False],
        )
        .unique(["customer_id", "sku"], keep="first", maintain_order=True)
        .group_by("customer_id", maintain_order=True)
        .head(per_person)
    )
    return (
        candidates.with_columns(
            pl.int_range(1, pl.len() + 1).over("customer_id").cast(pl.Int64).alias("rank")
        )
        .join(
            products.select(
                pl.col("sku").alias("because_sku"), pl.col("name").alias("because_name")
            ),
            on="because_sku",
            how="left",
        )
        .select([pl.col(name).cast(dtype) for name, dtype in RECOMMENDATION_COLUMNS.items()])
        .sort("customer_id", "rank")
    )


def recommendation_tokens(recommendations: pl.DataFrame, per_person: int) -> pl.DataFrame:
    """One row per customer: recommended_product_<n>, recommended_product_<n>_sku and
    because_you_bought (the owned product behind the first co-purchase recommendation)."""
    columns: list[pl.Expr] = []
    for rank in range(1, per_person + 1):
        at_rank = pl.col("rank") == rank
        columns += [
            pl.col("name").filter(at_rank).first().alias(f"recommended_product_{rank}"),
            pl.col("sku").filter(at_rank).first().alias(f"recommended_product_{rank}_sku"),
        ]
    columns.append(
        pl.col("because_name")
        .filter(pl.col("basis") == BASES[0])
        .first()
        .alias("because_you_bought")
    )
    return recommendations.group_by("customer_id").agg(columns).sort("customer_id")
