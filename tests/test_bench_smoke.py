"""Every bench still runs and prints the one JSON object its issue names.

Speeds are not asserted here (they live in the bench output). The card-link
ratios are asserted because they are emulated wire time, not wall-clock time:
deterministic figures of the protocol engines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BENCHES = [
    ("card_link.py", [], {"worst_ratio"}),
    ("card_reads.py", [], {"worst_ratio"}),
    ("fse.py", ["--batch", "200", "--build", "20"], {"build_per_s", "verify_per_s", "payload_bytes",
                                                     "crypto_floor_per_s"}),
    ("store.py", ["--fse", "20", "--invoices", "200", "--full-mib", "2"],
     {"commit_p50_s", "commit_p99_s", "fsync_floor_s"}),
    ("offload.py", ["--count", "20"], {"fse_per_s", "wire_bytes_per_fse", "payload_bytes_per_fse"}),
    ("lots.py", ["--fse", "30"], {"lots_make_s", "read_decode_floor_s", "lots"}),
    ("office.py", ["--fse", "30"], {"verify_only_per_s", "import_fse_per_s_sqlite",
                                    "import_fse_per_s_postgresql", "lots_make_s"}),
    ("load.py", ["--rows", "200", "2000"], {"check_rows_per_s", "peak_rss_mb"}),
    ("report.py", ["--traces", "300", "--fse", "12"], {"report_s", "read_floor_s", "traces"}),
    ("update.py", ["--size", "65536"], {"upload_bytes_per_s", "framing_floor_bytes_per_s",
                                         "install_s", "rollback_s"}),
    ("update_unit.py", [], {"install_s", "rollback_s", "install_floor_s"}),
    ("ui.py", [], {"frame_cpu_p99_ms", "i2c_bytes_per_key_mean", "full_frame_bytes",
                   "keys_prepared_secured", "door_s", "door_ratio"}),
]


def run_bench(name: str, args: list[str], tmp_path: Path) -> dict:
    extra = ["--dir", str(tmp_path)] if name == "store.py" else []
    done = subprocess.run([sys.executable, str(ROOT / "bench" / name), *args, *extra, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"{name} --json printed {len(lines)} lines"
    return json.loads(lines[0])


@pytest.mark.parametrize(("name", "args", "keys"), BENCHES, ids=[b[0] for b in BENCHES])
def test_bench_prints_its_json_keys(name, args, keys, tmp_path):
    figures = run_bench(name, args, tmp_path)
    assert keys <= figures.keys()
    for key in keys:
        assert isinstance(figures[key], int | float) and figures[key] > 0


def test_card_wire_time_stays_within_the_iso_bounds(tmp_path):
    # Emulated wire time against the ISO 7816-3 lower bound (issue targets).
    assert run_bench("card_link.py", [], tmp_path)["worst_ratio"] <= 1.05
    assert run_bench("card_reads.py", [], tmp_path)["worst_ratio"] <= 1.2
