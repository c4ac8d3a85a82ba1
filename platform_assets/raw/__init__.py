from platform_assets.raw.assets import raw_asset_key, raw_assets

__all__ = ["raw_asset_key", "raw_assets"]
