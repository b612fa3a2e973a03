"""The tables `nmsim gpu validate` and `nmsim gpu calibrate` print: one report per bench file, one
for the published GEMM files, one for the published end-to-end files (never pooled)."""
from __future__ import annotations

from pathlib import Path

from rich.table import Table

from nmsim.specfile import SpecError

from .tables import NarrowTable, console

GEMM_TARGETS = "targets (held-out sources): dense MAPE <= 8% with Spearman >= 0.98; 2:4 side of 1 >= 90%, " \
               "mean speedup error <= 0.15"


def group_files(paths: list[str]) -> dict[str, list[str]]:
    """Files by kind ('bench', 'gemm', 'e2e'); a folder stands for its *.csv files. SpecError for a
    missing path, an empty folder or a CSV of no known kind (named with its first line)."""
    from nmsim.gpu_kernels.published import file_kind

    out: dict[str, list[str]] = {"bench": [], "gemm": [], "e2e": []}
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files = sorted(path.glob("*.csv"))
            if not files:
                raise SpecError(f"`files` {p}: a folder without *.csv files")
        elif path.is_file():
            files = [path]
        else:
            raise SpecError(f"`files` {p}: no such file or folder (a bench file comes from `nmsim gpu bench`; "
                            f"published files live in measurements/published)")
        for f in files:
            out[file_kind(f)].append(str(f))
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _metrics_table(title: str, rows: list[tuple[str, dict]]) -> Table:
    t = NarrowTable(title=title, title_justify="left")
    for c in ("rows", "n", "MAPE", "max APE", "Spearman"):
        t.add_column(c, justify="left" if c == "rows" else "right")
    for label, m in rows:
        t.add_row(label, str(m["n"]), _pct(m["mape"]), _pct(m["max_ape"]), _num(m["spearman"]))
    return t


_TIME_ROWS = (("held out (stated device)", "held_out"), ("held out, uncalibrated", "held_out_uncalibrated"),
              ("held out (device inferred)", "held_out_inferred"), ("calibration (stated device)", "calibration"),
              ("calibration (device inferred)", "calibration_inferred"))


def _validate_files(files: list[str], validate, title: str, synthetic_note: str = "") -> dict:
    """Read the published `files` together, score them with `validate(rows)`, print the header line
    (and a warning for rows marked synthetic); returns the result dict."""
    from nmsim.gpu_kernels.published import read_published

    rows = [r for f in files for r in read_published(f)[1]]
    res = validate(rows)
    console.print(f"[bold]{title}[/bold]: {len(rows)} rows from {len(files)} files (other people's timings, not ours)")
    if res["synthetic_rows"]:
        console.print(f"[yellow]{res['synthetic_rows']} rows say they are synthetic{synthetic_note}[/yellow]")
    return res


def published_gemm_report(files: list[str]) -> dict:
    """Validate the published GEMM files together and print their report; returns the result dict."""
    from nmsim.gpu_kernels.validate_published import validate_published_gemm

    res = _validate_files(files, validate_published_gemm, "published GEMM measurements",
                          " (made by a program): their scores test the code, not the model")
    for kind in ("all", "dense", "2:4"):
        console.print(_metrics_table(f"time per call, {kind} kernels", [(lbl, res["time"][kind][k]) for lbl, k in _TIME_ROWS]))
    t = NarrowTable(title="2:4 speedups (baseline time / 2:4 time), predicted vs printed", title_justify="left")
    for c in ("rows", "n", "side of 1 right", "mean |error|", "max |error|"):
        t.add_column(c, justify="left" if c == "rows" else "right")
    for lbl, k in _TIME_ROWS:
        m = res["speedup"][k]
        t.add_row(lbl, str(m["n"]), _pct(m["side_right"]), _num(m["mean_abs_error"]), _num(m["max_abs_error"]))
    console.print(t)
    _print_params(res)
    _print_split(res)
    console.print(GEMM_TARGETS)
    return res


def _print_params(res: dict) -> None:
    t = NarrowTable(title="parameters per preset (fitted on the calibration sources, else uncalibrated: assumed prior)",
              title_justify="left")
    for c in ("preset", "calibrated", "uncalibrated"):
        t.add_column(c)
    for preset, status in res["param_status"].items():
        fitted = [f"{n}: {s}" for n, s in status.items() if s != "uncalibrated"]
        t.add_row(preset, ", ".join(fitted) or "-", ", ".join(n for n, s in status.items() if s == "uncalibrated"))
    console.print(t)
    fit = res["fit"]
    console.print(f"fit: {fit['status']}; unconstrained by these rows (prior kept): "
                  f"{', '.join(fit['unconstrained']) or 'none'}")


def _print_split(res: dict) -> None:
    for side in ("calibration", "held_out"):
        items = res["split"][side]
        console.print(f"{side.replace('_', ' ')} sources ({sum(items.values())} rows): "
                      + "; ".join(f"{s} ({n})" for s, n in sorted(items.items())))


def published_e2e_report(files: list[str]) -> dict:
    """Validate the published end-to-end files together and print their report; returns the result."""
    from nmsim.gpu_kernels.e2e import validate_e2e

    res = _validate_files(files, validate_e2e, "published end-to-end latencies")
    console.print(_metrics_table("whole-model latency", [(lbl, res["latency"][k]) for lbl, k in _TIME_ROWS]))
    for key, title in (("per_framework", "framework"), ("per_device", "preset")):
        t = NarrowTable(title=f"per {title} (held out, stated device)", title_justify="left")
        for c in (title, "n", "MAPE", "max APE", "Spearman"):
            t.add_column(c, justify="left" if c == title else "right")
        for name, m in res[key].items():
            t.add_row(name, str(m["n"]), _pct(m["mape"]), _pct(m["max_ape"]), _num(m["spearman"]))
        console.print(t)
    console.print("end-to-end parameters: " + ", ".join(f"{k} = {v:.3g} ({res['param_status'][k]})"
                                                       for k, v in res["params"].items()))
    console.print(f"ops costed: {res['ops_note']}")
    _print_split(res)
    console.print("target (held-out sources): end-to-end latency mean error <= 15%")
    return res


def bench_report(path: str, arch: str, split: str, plot_path: str | None, *, stage=lambda p: p) -> dict:
    """Validate one bench measurement file and print its report; returns the result dict. `stage`:
    where an output named by the user is written (cli.outputs: `args.outputs.path`)."""
    from nmsim.gpu_kernels.measurements import read_measurements
    from nmsim.gpu_kernels.validate import plot, validate

    res = validate(read_measurements(path), arch, split)
    console.print(f"[bold]bench measurements[/bold] {path}: {res['overall']['n']} rows on {res['arch']}")
    if res["synthetic_rows"]:
        console.print(f"[yellow]{res['synthetic_rows']} of {res['overall']['n']} rows say they are synthetic "
                      f"(made by a program, not measured): their scores test the code, not the model[/yellow]")
    console.print(_metrics_table("bench rows", [(lbl, res[k]) for lbl, k in (
        ("held out", "held_out"), ("calibration", "calibration"), ("overall", "overall"),
        ("held out, uncalibrated", "uncalibrated_held_out"))]))
    k = NarrowTable(title="per kernel", title_justify="left")
    for c in ("kernel", "held-out n", "held-out MAPE", "held-out Spearman", "calib. n", "calib. MAPE"):
        k.add_column(c, justify="left" if c == "kernel" else "right")
    for name, m in res["per_kernel"].items():
        c = m["calibration"]
        k.add_row(name, str(m["n"]), _pct(m["mape"]), _num(m["spearman"]), str(c["n"]), _pct(c["mape"]))
    console.print(k)
    p = NarrowTable(title="model parameters", title_justify="left")
    for c in ("parameter", "before this file", "fitted on this file"):
        p.add_column(c, justify="left" if c == "parameter" else "right")
    for name, default in res["param_defaults"].items():
        value = res["params"].get(name)
        p.add_row(name, f"{default:.4g} ({res['param_status'][name]})",
                  "not fitted: no rows use it" if value is None else f"{value:.4g}")
    console.print(p)
    console.print(f"split: {res['split']}")
    if plot_path:
        plot(res, stage(plot_path))
        console.print(f"plot: {plot_path}")
    return res


def calibrate_report(files: dict[str, list[str]], write: str | None, json_path: str | None, *,
                     stage=lambda p: p) -> None:
    """Fit on the calibration sources of published files (`files` by kind, group_files): the GEMM
    model on the GEMM files, then the end-to-end parameters on the end-to-end files on top of that
    fit; print the values, optionally write them as the calibration module and as JSON (at
    `stage(path)`, as in bench_report)."""
    from nmsim.gpu_kernels.published import read_published
    from nmsim.gpu_kernels.validate_published import calibrated_module_text, calibrate_published, params_for

    if not files["gemm"]:
        raise SpecError("`files`: no published GEMM files given (measurements/published/gemm_*.csv)")
    rows = [r for f in files["gemm"] for r in read_published(f)[1]]
    fitted, fit, split = calibrate_published(rows)
    e2e_fit = None
    if files["e2e"]:
        from nmsim.gpu_kernels.e2e import calibrate_e2e

        e2e_rows = [r for f in files["e2e"] for r in read_published(f)[1]]
        e2e_values, e2e_fit = calibrate_e2e(e2e_rows, lambda g: params_for(g, fitted)[0])
        fitted = fitted | e2e_values
    t = NarrowTable(title=f"calibration on {sum(split['calibration'].values())} GEMM rows of "
                    f"{len(split['calibration'])} sources" + (" and the end-to-end calibration rows" if e2e_fit else ""),
              title_justify="left")
    t.add_column("parameter")
    t.add_column("value", justify="right")
    for key, v in fitted.items():
        t.add_row(key, f"{v:.4g}")
    console.print(t)
    loose = fit["unconstrained"] + (e2e_fit["unconstrained"] if e2e_fit else [])
    console.print(f"unconstrained (kept at the prior, not written): {', '.join(loose) or 'none'}")
    if write:
        Path(stage(write)).write_text(calibrated_module_text(fitted, fit, split, e2e_fit))
        console.print(f"wrote {write}")
    if json_path:
        from .provenance import file_inputs, write_json

        all_files = [f for group in files.values() for f in group]
        write_json(stage(json_path), "gpu-calibrate", {"values": fitted, "fit": fit, "e2e_fit": e2e_fit, "split": split},
                   engine="gpu model (sim.gpu) fit", inputs=file_inputs(**{f"file{i}": f for i, f in enumerate(all_files)}))
