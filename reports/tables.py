"""Tables of records: display frames (numbers formatted for people) rendered with rich, as
GitHub markdown or as a LaTeX booktabs table, and the raw per-layer CSV frame (with a totals
row per model)."""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

import pandas as pd
from rich.table import Table

TEXT_COLUMNS = {"model", "name", "type", "signal", "family", "input", "data set", "connect",
                "description", "convention", "differs from first"}
MISSING = "—"


def number(value: float | None, scale: float = 1.0, digits: int = 3, significant: int = 3) -> str:
    """``value / scale`` with ``digits`` decimals, more when needed to show ``significant``
    digits of a small figure (0.000435, not 0.000); a dash for a missing figure (None or
    NaN, also numpy's), ``inf`` for an infinite one."""
    if value is None or math.isnan(value):
        return MISSING
    scaled = value / scale
    if significant and scaled and math.isfinite(scaled):
        digits = max(digits, significant - 1 - math.floor(math.log10(abs(scaled))))
    return f"{scaled:,.{digits}f}"


def percent(value: float | None) -> str:
    return number(value, 0.01, 2, significant=2)


def energy_spread(records: Iterable[dict[str, Any]]) -> str:
    """One sentence on the per-sample DC of each record: mean with its 95 % interval, p5 /
    p50 / p95 and the samples a +/- 1 % interval needs (records of one figure, e.g. one
    sample, have none and are left out; empty when none has)."""
    parts = []
    for r in records:
        s = r.get("energy_stats")
        if not s or s["ci95_high_mj"] is None or math.isnan(s["ci95_high_mj"]):
            continue
        unit = "samples" if s["figures"] == s["samples"] else "batches"
        interval = ""
        if s["mean_mj"]:
            half = (s["ci95_high_mj"] - s["mean_mj"]) / abs(s["mean_mj"])
            interval = f" ± {percent(half)} %"
        interval += f" (95 % CI, t on {s['basis']}, {s['figures']} {unit})"
        needed = s["samples_for_1pct"]
        needed = f"; ± 1 % needs {needed:,} sample{'s' * (needed != 1)}" if needed else ""
        spread = "/".join(number(s[f"p{q}_mj"], significant=4) for q in (5, 50, 95))
        parts.append(f"{r['model']} {number(s['mean_mj'], significant=4)} mJ{interval}, "
                     f"p5/p50/p95 {spread} mJ{needed}")
    return f"DC per sample: {'; '.join(parts)}." if parts else ""


def summary_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per model: counts in G per sample, energy in mJ per sample."""
    rows = []
    for r in records:
        row = {"model": r["model"], **({"convention": r["convention"]} if r.get("convention")
                                       else {}),
               "params (M)": number(r["params"], 1e6, 2, significant=0),
               "T": MISSING if r["T"] is None else str(r["T"]), "samples": str(r["samples"]),
               "MACs (G)": number(r["macs"], 1e9), "ACs (G)": number(r["acs"], 1e9),
               "SyOPs (G)": number(r["syops"], 1e9),
               "neuron rate (%)": percent(r.get("neuron_firing_rate")),
               "input rate (%)": percent(input_rate(r)),
               "DC (mJ)": number(r["dc_mj"]),
               "EC (mJ)": f"{number(r['ec_low_mj'])} – {number(r['ec_high_mj'])}"}
        if "ec_at_rate_mj" in r:
            row[f"EC @ {r['rate']:g} (mJ)"] = number(r["ec_at_rate_mj"])
        if "relative_energy" in r:
            row["DC vs first"] = number(r["relative_energy"], digits=2) + "x"
        if "ann_baseline" in r:
            ann = r["ann_baseline"]
            row["ANN (mJ)"] = number(ann["energy_mj"]["total"])
            row["break-even rate: compute / memory"] = " / ".join(
                break_even(ann["break_even_rate"][k]) for k in ("compute", "with_memory"))
            if "qnn" in ann:   # the QNN at equal information, spikes per synapse (baseline.py)
                qnn = ann["qnn"]
                row["QNN (mJ)"] = number(qnn["energy_mj"]["total"])
                row["vs QNN: compute / memory"] = " / ".join(
                    break_even(qnn["break_even_rate"][k]) for k in ("compute", "with_memory"))
                row["spikes / synapse"] = number(ann["spikes_per_synapse"]["measured"], digits=2)
        if "differences" in r:
            row["differs from first"] = "; ".join(r["differences"]) or MISSING
        rows.append(row)
    return pd.DataFrame(rows)


def break_even(rate: float | None) -> str:
    """A break-even input firing rate for people: a percentage, "never" (the SNN costs more
    even silent) or "any" (it is cheaper even at rate 1)."""
    if rate is None:
        return MISSING
    return "never" if rate <= 0 else "any" if rate >= 1 else percent(rate) + " %"


def layer_frame(record: dict[str, Any]) -> pd.DataFrame:
    """One row per layer of one model: counts in M per sample, energy in µJ and % of DC."""
    total_pj = (record["dc_mj"] or 0) * 1e9
    rows = [{"name": layer["name"], "type": layer["type"], "signal": layer["signal"],
             "calls": number(layer["calls"], digits=0, significant=0),
             "SyOPs (M)": number(layer["syops"], 1e6, 2), "ACs (M)": number(layer["acs"], 1e6, 2),
             "MACs (M)": number(layer["macs"], 1e6, 2),
             "input rate (%)": percent(layer["firing_rate"]),
             "energy (µJ)": number(layer["energy_pj"], 1e6, 2),
             "share (%)": percent(layer["energy_pj"] / total_pj if total_pj else None)}
            for layer in record["layers"]]
    return pd.DataFrame(rows, columns=list(LAYER_COLUMNS))


LAYER_COLUMNS = ("name", "type", "signal", "calls", "SyOPs (M)", "ACs (M)", "MACs (M)",
                 "input rate (%)", "energy (µJ)", "share (%)")
# every column a totals table can have (those after "EC" only with their options)
SUMMARY_COLUMNS = ("model", "convention", "params (M)", "T", "samples", "MACs (G)", "ACs (G)",
                   "SyOPs (G)", "neuron rate (%)", "input rate (%)", "DC (mJ)", "EC (mJ)",
                   "EC @ rate (mJ)", "DC vs first", "ANN (mJ)",
                   "break-even rate: compute / memory", "QNN (mJ)", "vs QNN: compute / memory",
                   "spikes / synapse", "differs from first")


TOTAL = "total"


def input_rate(record: dict[str, Any]) -> float | None:
    """The input firing rate of a record (schema 3's key, or the old ``firing_rate``)."""
    return record.get("input_firing_rate", record.get("firing_rate"))


def totals_row(record: dict[str, Any]) -> dict[str, Any]:
    """The model's per-sample totals in the per-layer CSV columns (name ``total``); its
    ``energy_pj`` is the synaptic energy, as in the layer rows."""
    synaptic_mj = record.get("energy_breakdown_mj", {}).get("synaptic", record["dc_mj"])
    return {"name": TOTAL, "type": "", "syops": record["syops"], "acs": record["acs"],
            "macs": record["macs"], "firing_rate": input_rate(record),
            "params": record["params"],
            "energy_pj": None if synaptic_mj is None else synaptic_mj * 1e9}


def layers_csv_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Raw per-sample figures, one row per layer per model and a ``total`` row closing each
    model's rows, with a ``model`` column."""
    frames = [pd.DataFrame([*r["layers"], totals_row(r)]).assign(model=r["model"])
              for r in records]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model"])
    if "input_shape" in frame:
        frame["input_shape"] = frame["input_shape"].map(
            lambda shape: "x".join(map(str, shape)) if isinstance(shape, list) else shape)
    return frame[["model"] + [c for c in frame.columns if c != "model"]]


def column_key(label: str) -> str:
    """What ``--columns`` calls a column: its label without the unit, lower case
    ("MACs (G)" -> "macs")."""
    return re.sub(r"^ec @ \S+", "ec @ rate", label.split(" (")[0].strip().lower())


def choose_columns(frame: pd.DataFrame, columns: Iterable[str] | None) -> pd.DataFrame:
    """``frame`` with its first (naming) column and the ``columns`` it has, in that order;
    all of it when ``columns`` is empty."""
    if not columns:
        return frame
    keys = {column_key(c): c for c in frame.columns}
    chosen = [keys[k] for k in map(str.lower, columns) if k in keys]
    return frame[list(dict.fromkeys([frame.columns[0], *chosen]))]


def column_keys() -> list[str]:
    """The names ``--columns`` takes, in table order."""
    return list(dict.fromkeys(column_key(c) for c in (*SUMMARY_COLUMNS, *LAYER_COLUMNS)))


def unknown_columns(columns: Iterable[str]) -> list[str]:
    """The ``columns`` no table has (for one clear error instead of an empty table)."""
    return [c for c in columns if c.lower() not in column_keys()]


def is_text(frame: pd.DataFrame, column: str) -> bool:
    """Whether a column holds text (wraps at spaces) rather than numbers (never wraps)."""
    return column in TEXT_COLUMNS or column == "" or not _numeric(frame[column])


def header(column: str, text: bool) -> str:
    """A column's header with its unit on a second line when its cells are numbers (a
    narrow number column needs no wide header)."""
    return column if text else column.replace(" (", "\n(")


def min_width(frame: pd.DataFrame, column: str) -> int:
    """The narrowest a column can be: its longest number (numbers never break) and header
    line, or for text its longest word."""
    cells = [str(v) for v in frame[column]]
    if is_text(frame, column):
        return max([len(w) for text in [column, *cells] for w in text.split()] + [1])
    return max([len(c) for c in cells] + [len(line) for line in header(column, False)
                                           .splitlines()] + [1])


def table_width(frame: pd.DataFrame) -> int:
    """Columns a rich table of ``frame`` needs at least (borders and padding included)."""
    return sum(min_width(frame, c) + 3 for c in frame.columns) + 1


def transposed(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column of ``frame``, one column per row (named by its first column)."""
    names = [str(v) for v in frame.iloc[:, 0]]
    body = frame.iloc[:, 1:]
    return pd.DataFrame({"": list(body.columns),
                         **{name: [str(v) for v in body.iloc[i]] for i, name in
                            enumerate(names)}})


def fitted(frame: pd.DataFrame, width: int | None) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` shaped to fit ``width`` terminal columns without breaking a number:
    as it is, else turned (one column per model, when that fits), else with the least
    telling columns left out (``DROP_FIRST``, then the rightmost); also those left out."""
    if width is None or table_width(frame) <= width:
        return frame, []
    turned = transposed(frame)
    if table_width(turned) <= width:
        return turned, []
    kept = list(frame.columns)
    order = [c for c in DROP_FIRST if c in kept] + [c for c in kept[:0:-1]
                                                    if c not in DROP_FIRST]
    for column in order:
        if table_width(frame[kept]) <= width or len(kept) <= 2:
            break
        kept.remove(column)
    return frame[kept], [c for c in frame.columns if c not in kept]


# what a narrow terminal loses first (then the rightmost columns): the energy and the
# counts stay longest
DROP_FIRST = ("calls", "type", "signal", "share (%)", "SyOPs (M)", "input rate (%)",
              "samples", "params (M)", "SyOPs (G)")


def rich_table(frame: pd.DataFrame, title: str | None = None,
               caption: str | None = None) -> Table:
    """A rich table: numbers never wrap (their unit goes under the header), text wraps at
    spaces; no column narrower than ``min_width``."""
    table = Table(title=title, caption=caption, caption_justify="left")
    for column in frame.columns:
        text = is_text(frame, column)
        table.add_column(header(column, text), justify="left" if text else "right",
                         overflow="fold", no_wrap=not text,
                         min_width=min_width(frame, column))
    for row in frame.itertuples(index=False):
        table.add_row(*map(str, row))
    return table


def _numeric(cells) -> bool:
    return all(NUMBER.match(str(c).replace(",", "")) or str(c) == MISSING for c in cells)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table, numbers right-aligned."""
    def cells(values) -> str:
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    align = ["---" if c in TEXT_COLUMNS else "---:" for c in frame.columns]
    lines = [cells(frame.columns), cells(align)] + [cells(row) for row in
                                                   frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                 "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                 "^": r"\textasciicircum{}", "µ": r"\textmu{}", "—": "---", "–": "--",
                 "≥": r"$\geq$", "|": r"\textbar{}", "<": r"\textless{}",
                 ">": r"\textgreater{}", "\n": " "}
NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$")


def latex_escape(text: Any) -> str:
    """``text`` with LaTeX's special characters escaped (underscores in layer names...)."""
    return "".join(LATEX_ESCAPES.get(char, char) for char in str(text))


def latex_number(cell: Any) -> str | None:
    """A cell as siunitx reads it in an ``S`` column ("1,234.5" -> "1234.5"); None when the
    cell is not a plain number."""
    text = str(cell).replace(",", "")
    return text if NUMBER.match(text) else None


def latex_table(frame: pd.DataFrame, caption: str | None = None, label: str | None = None,
                note: str | None = None) -> str:
    """A booktabs table (``\\usepackage{booktabs,siunitx}``): columns of numbers are
    siunitx ``S`` columns (plain digits, no thousands separator; a missing figure is
    ``{---}``), others ``l``; ``note`` goes above it as LaTeX comments."""
    numeric = [c not in TEXT_COLUMNS and all(latex_number(v) is not None or v == MISSING
                                             for v in frame[c]) and len(frame)
               for c in frame.columns]

    def cell(value, is_number: bool) -> str:
        if is_number:
            return latex_number(value) or "{---}"
        return latex_escape(value)

    def row(values) -> str:
        return " & ".join(cell(v, n) for v, n in zip(values, numeric)) + r" \\"

    header = " & ".join("{" + latex_escape(c) + "}" if n else latex_escape(c)
                        for c, n in zip(frame.columns, numeric)) + r" \\"
    align = "".join("S" if n else "l" for n in numeric)
    comments = [f"% {line}" for line in (note or "").splitlines() if line.strip()]
    lines = [*comments, r"\begin{table}[htbp]", r"\centering",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", header, r"\midrule",
             *(row(values) for values in frame.itertuples(index=False)),
             r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    return "\n".join([*lines, r"\end{table}"]) + "\n"
