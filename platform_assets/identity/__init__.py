"""The identity layer: one stable `customer_id` per person behind the cleaned records."""

from platform_assets.identity.assets import identity_assets, identity_checks

__all__ = ["identity_assets", "identity_checks"]
