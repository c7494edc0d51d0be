"""Replay finished runs' training logs through today's health monitor: which events would it raise now?

    python bench/health_replay.py RUN_DIR [RUN_DIR ...]
    python bench/health_replay.py bench-out/mode-collapse-v5/runs/*

For each run directory, feeds the training lines of ``log.jsonl`` (losses, gradient norms,
D(real)/D(fake)) to a fresh :class:`~ganforge.training.health.HealthMonitor` built from the
run's own ``config.yaml`` health settings, exactly as the trainer does, and prints the
spike and D-dominance events it raises beside the ones the run logged when it trained. Use
it after changing a detector to check, on real runs, that false alarms went away and real
ones did not. Probe (mode-collapse) and FID (stall) events are not replayed: they need the
generator, not the log.

The last line is ``log_events_now: N (logged: M)`` summed over the runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ganforge.tasks import load_config  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.losses import LOSSES  # noqa: E402
from ganforge.training import health as hm  # noqa: E402

# The events observe_log can raise; divergence needs a non-finite value, which ends a run.
LOG_KINDS = (hm.SPIKE, hm.D_DOMINATES, hm.DIVERGENCE)


def replay(run_dir: Path) -> tuple[list[hm.HealthEvent], list[dict], str]:
    """(events today's monitor raises on the run's log lines, health records the run logged,
    the health policy the run trained with)."""
    cfg = load_config(run_dir / "config.yaml")
    monitor = hm.HealthMonitor(cfg.health)
    events: list[hm.HealthEvent] = []
    logged: list[dict] = []
    with open(run_dir / "log.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("event") == "health":
                if record.get("kind") in LOG_KINDS:
                    logged.append(record)
            elif "event" not in record and "loss_d" in record and "step" in record:
                numbers = hm.judged_numbers(record, LOSSES.get(cfg.loss.name).scores_have_scale)
                events += monitor.observe_log(int(record["step"]), float(record["kimg"]), numbers)
    return events, logged, cfg.health.policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (each with config.yaml and log.jsonl)")
    args = parser.parse_args()
    total_now = total_logged = 0
    for run_dir in args.runs:
        if not (run_dir / "log.jsonl").is_file() or not (run_dir / "config.yaml").is_file():
            raise SystemExit(f"error: {run_dir} is not a run directory (needs config.yaml and log.jsonl)")
        try:
            events, logged, policy = replay(run_dir)
        except (GanforgeError, ValueError, KeyError) as err:
            raise SystemExit(f"error: {run_dir}: {err}") from None
        total_now += len(events)
        total_logged += len(logged)
        off = " (its health monitor was off)" if policy == "off" else ""
        print(f"{run_dir.name}: logged {len(logged)}, now {len(events)}{off}")
        for record in logged:
            print(f"  logged  {record['kind']} at step {record['step']}")
        for event in events:
            print(f"  now     {event.kind} at step {event.step}: {event.message}")
    print(f"log_events_now: {total_now} (logged: {total_logged})")


if __name__ == "__main__":
    main()
