"""The dbt layers (staging, intermediate, star, segments), personas included.

Imports nothing: dbt's Python models import `platform_assets.transform.personas`, which must
not load Dagster, and `platform_assets.definitions` builds the dbt assets with
`build_dbt_assets(manifest_path())` from `transform.assets` and `transform.project`.
"""
