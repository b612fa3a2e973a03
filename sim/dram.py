"""DRAM efficiency: what a transfer costs beyond its bytes (docs/MODEL.md 3.4-3.5, "DRAM efficiency").

A transfer of a tile moves `rows` contiguous runs of `run` bytes, `pitch` bytes apart (the row
pitch of the tensor in DRAM). On top of bytes / rate it costs

* whole accesses: each run is rounded up to `access_bytes` (a DDR4 x16 BL8 burst is 16 B;
  problem.whole_accesses, applied by problem.tile_bytes);
* page changes: every transfer starts on a page, and a run sequence crosses pages as it goes:
  `1 + rows * min(pitch, page + run) / page` changes (rows closer than a page share it, rows a
  page or more apart each open their own), `page_change` cycles each;
* read/write switches: the DMA alternates reads and writes in batches of `rw_batch_bytes`, so
  written bytes cause `2 * writes / rw_batch_bytes` switches, `rw_switch` cycles each;
* refresh: the interface is unavailable a `refresh_fraction` of the time, so all of the above
  is divided by (1 - refresh_fraction).

With the defaults (access 1 B, no page size, no batches, no refresh) a transfer costs bytes / rate,
as before the fields existed. The same functions serve the fast model (sums over the tile grid)
and the detailed engine (one transfer at a time). All inputs may be numpy arrays.
"""
from __future__ import annotations

import numpy as np

from .hw import HwParams


def page_changes(hw: HwParams, transfers, rows, run_bytes, pitch_bytes):
    """Page changes of `transfers` transfers moving `rows` runs in all (summed over the transfers),
    each run `run_bytes` long and `pitch_bytes` after the previous one (0 without a page model)."""
    page = np.asarray(hw.dram_page_bytes, dtype=np.float64)
    safe = np.maximum(page, 1.0)
    per_row = np.minimum(np.asarray(pitch_bytes, dtype=np.float64), safe + run_bytes) / safe
    return np.where(page > 0, transfers + rows * per_row, 0.0)


def transfer_cycles(hw: HwParams, nbytes, pages, write_bytes):
    """Cycles of the DRAM interface to move `nbytes` (of which `write_bytes` written) with `pages`
    page changes: rate, page changes, read/write switches, stretched by refresh."""
    batch = np.asarray(hw.dram_rw_batch_bytes, dtype=np.float64)
    switches = np.where(batch > 0, 2.0 * np.asarray(write_bytes, dtype=np.float64) / np.maximum(batch, 1.0), 0.0)
    busy = nbytes / hw.dram_bpc + pages * hw.dram_page_cycles + switches * hw.dram_rw_cycles
    return busy / (1.0 - np.asarray(hw.dram_refresh_fraction, dtype=np.float64))
