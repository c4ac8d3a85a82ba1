"""Seeded, streaming generator of demo data for the landing zone, with its ground truth.

    from platform_assets.generator import GeneratorConfig, generate
    config = GeneratorConfig(landing_dir=Path("data/landing"), truth_dir=Path("data/truth"))
    summary = generate(config)

Modules: `people` (persons, households), `noise` and `records` (how sources distort a person),
`behaviour` (daily activity), `catalogue`, `campaigns`, `defects` (bad input at `bad_rate`),
`writers` (streaming files), `run` (the chunk loop).
"""

from platform_assets.generator.config import GenerationSummary, GeneratorConfig
from platform_assets.generator.run import generate

__all__ = ["GenerationSummary", "GeneratorConfig", "generate"]
