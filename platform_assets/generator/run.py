"""`generate`: simulate people chunk by chunk and stream every chunk's rows to the files."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

from platform_assets.contract import SOURCES
from platform_assets.generator.batch import Batch
from platform_assets.generator.behaviour import PersonSimulation, World
from platform_assets.generator.campaigns import plan_campaigns
from platform_assets.generator.catalogue import CATEGORIES, Catalogue
from platform_assets.generator.clock import Horizon
from platform_assets.generator.config import GenerationSummary, GeneratorConfig
from platform_assets.generator.defects import Defects
from platform_assets.generator.ids import IdFactory
from platform_assets.generator.locales import build_pools
from platform_assets.generator.people import PeopleFactory
from platform_assets.generator.writers import LandingWriters, TruthWriters

logger = logging.getLogger(__name__)


def generate(config: GeneratorConfig) -> GenerationSummary:
    """Write the landing zone and the ground truth for `config`; same config, same bytes.

    Files of earlier runs with other names or days are left in place: point `landing_dir` at an
    empty directory for a clean demo.
    """
    config.validate()
    started = time.perf_counter()
    horizon = Horizon(config.start_date, config.days)
    catalogue = Catalogue(config.seed, horizon)
    world = World(
        seed=config.seed,
        horizon=horizon,
        catalogue=catalogue,
        campaigns=plan_campaigns(config.seed, horizon),
        ids=IdFactory(config.seed),
        defects=Defects(config.bad_rate),
    )
    factory = PeopleFactory(
        config.seed, config.people, config.start_date, build_pools(config.seed), len(CATEGORIES)
    )
    logger.info(
        "generating %d people over %d days from %s into %s",
        config.people,
        config.days,
        config.start_date,
        config.landing_dir,
    )
    with (
        LandingWriters(config.landing_dir, horizon) as landing,
        TruthWriters(config.truth_dir) as truth,
        tqdm(
            total=config.people,
            unit="person",
            desc="generating",
            file=sys.stderr,
            disable=not config.progress,
            dynamic_ncols=True,
        ) as progress,
    ):
        landing.write_products(catalogue)
        for first in range(0, config.people, config.chunk_size):
            last = min(first + config.chunk_size, config.people)
            batch = Batch(config.days)
            for index in range(first, last):
                PersonSimulation(world, factory.person(index), batch).run()
            landing.write_batch(batch)
            truth.write_batch(batch)
            progress.update(last - first)
        files = len(landing.files)
        rows = {source: landing.rows_by_source.get(source, 0) for source in SOURCES}
    seconds = time.perf_counter() - started
    logger.info("wrote %d files, %d rows in %.1f s", files, sum(rows.values()), seconds)
    return GenerationSummary(
        files=files, rows_by_source=rows, people=config.people, seconds=seconds
    )
