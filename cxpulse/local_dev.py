"""What a run may generate for local development, and what production must set instead.

``prepare_settings`` fills in the pseudonym key and the development API key
(kept under ``data_dir``, so restarts reuse them) when the run is local, and
refuses to start without them otherwise; ``demo_traffic`` is the simulated
traffic of ``cxpulse up --demo``.
"""
from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from pathlib import Path
from core.settings import ApiKey, Settings
from cxpulse.options import RunOptions

DEMO_TENANT = "demo"


def _secret_file(path: Path, nbytes: int) -> str:
    """The secret kept in ``path``; generated there (readable by the owner only) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def prepare_settings(settings: Settings, opts: RunOptions) -> Settings:
    """Fill in what the embedded default may generate; refuse what production must set."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.pseudonym_key:
        if not (opts.allow_local_broker or settings.embedded_warehouse):
            raise SystemExit("CXPULSE_PSEUDONYM_KEY must be set (a secret of at least 16 characters)")
        settings.pseudonym_key = _secret_file(settings.data_dir / "pseudonym.key", 32)
    if opts.allow_local_broker and opts.api:
        if not settings.dev_api_key:
            settings.dev_api_key = _secret_file(settings.data_dir / "dev-api.key", 24)
        settings.api.keys[settings.dev_api_key] = ApiKey(tenant=DEMO_TENANT, scopes=["ingest", "read", "admin"])
    if opts.api and not settings.api.keys:
        raise SystemExit("no API keys configured: set CXPULSE_API__KEYS or CXPULSE_API__KEYS_FILE")
    return settings


async def demo_traffic(settings: Settings, url: str, opts: RunOptions, stop: asyncio.Event) -> None:
    """Backfill a few hours of realistic traffic, then keep it flowing live (``cxpulse simulate``'s)."""
    from tqdm import tqdm

    from clients.simulate import SimulationPlan, simulate

    plan = SimulationPlan(api_url=url, keys={DEMO_TENANT: settings.dev_api_key},
                          rate_per_hour=opts.demo_rate_per_hour, backfill=timedelta(hours=opts.demo_backfill_hours))
    print(f"demo: {opts.demo_backfill_hours:g} h of history, then live traffic at ~{opts.demo_rate_per_hour:.0f} "
          f"contacts/h (weekly average). Try:\n"
          f"  curl -H 'Authorization: Bearer {settings.dev_api_key}' "
          f"'{url}/v1/kpis?metric=nps&window=1h&group_by=channel'", flush=True)
    with tqdm(desc="demo events posted", unit="ev") as bar:
        await simulate(plan, stop, progress=lambda _tenant, n: bar.update(n))
