//! Metrics as JSONL plus a dependency-free SVG line plot, and the progress bar.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;

use crate::error::{LearnerError, Result};

/// Appends one JSON object per step to a file and keeps the rows for plotting.
pub struct MetricsLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    rows: Vec<Value>,
}

impl MetricsLog {
    /// Opens `path` for appending (creating it), reading rows already there (on resume).
    pub fn open(path: &Path) -> Result<Self> {
        let mut rows = vec![];
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| LearnerError::io(path, e))?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                rows.push(serde_json::from_str(line).map_err(|e| LearnerError::Data {
                    path: path.to_path_buf(),
                    line: i + 1,
                    msg: format!("bad metrics row: {e}"),
                })?);
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| LearnerError::io(path, e))?;
        Ok(MetricsLog {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            rows,
        })
    }

    /// Appends `row` (a struct serializing to a JSON object) and flushes.
    pub fn log<T: Serialize>(&mut self, row: &T) -> Result<()> {
        let v = serde_json::to_value(row)
            .map_err(|e| LearnerError::Config(format!("metrics row: {e}")))?;
        let line = serde_json::to_string(&v)
            .map_err(|e| LearnerError::Config(format!("metrics row: {e}")))?;
        writeln!(self.file, "{line}")
            .and_then(|_| self.file.flush())
            .map_err(|e| LearnerError::io(&self.path, e))?;
        self.rows.push(v);
        Ok(())
    }

    /// Rows logged so far (including those read at open).
    pub fn rows(&self) -> &[Value] {
        &self.rows
    }

    /// Writes an SVG with one panel per key, x = `step`.
    pub fn write_svg(&self, path: &Path, keys: &[&str]) -> Result<()> {
        std::fs::write(path, svg_plot(&self.rows, "step", keys))
            .map_err(|e| LearnerError::io(path, e))
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A stacked set of line plots (one panel per key) of `rows[*][key]` against `rows[*][x_key]`.
/// Rows lacking a numeric value for a key are skipped in that panel.
pub fn svg_plot(rows: &[Value], x_key: &str, keys: &[&str]) -> String {
    let (w, ph, ml, mr, mt, gap) = (640.0, 140.0, 70.0, 20.0, 30.0, 40.0);
    let height = mt + keys.len() as f64 * (ph + gap);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (k, key) in keys.iter().enumerate() {
        let top = mt + k as f64 * (ph + gap);
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((r.get(x_key)?.as_f64()?, r.get(*key)?.as_f64()?)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        s += &format!(
            "<text x=\"{ml}\" y=\"{}\" font-weight=\"bold\">{}</text>\n",
            top - 6.0,
            esc(key)
        );
        s += &format!("<rect x=\"{ml}\" y=\"{top}\" width=\"{}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>\n", w - ml - mr);
        if pts.is_empty() {
            continue;
        }
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in &pts {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y0 = y0.min(*y);
            y1 = y1.max(*y);
        }
        if x1 == x0 {
            x1 = x0 + 1.0;
        }
        if y1 == y0 {
            y1 = y0 + 1.0;
            y0 -= 1.0;
        }
        let px = |x: f64| ml + (x - x0) / (x1 - x0) * (w - ml - mr);
        let py = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
        let poly: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/>\n",
            poly.join(" ")
        );
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4}</text>\n",
            ml - 4.0,
            top + 10.0,
            y1
        );
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.4}</text>\n",
            ml - 4.0,
            top + ph,
            y0
        );
        s += &format!("<text x=\"{ml}\" y=\"{}\">{}</text>\n", top + ph + 13.0, x0);
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} = {}</text>\n",
            w - mr,
            top + ph + 13.0,
            esc(x_key),
            x1
        );
    }
    s += "</svg>\n";
    s
}

/// A progress bar on stderr (hidden when `enabled` is false or stderr is not a terminal).
/// Runs `steps` calls of `step` under a [`progress_bar`] whose message `describe` writes,
/// appending each step's row to `log`; returns the rows.
pub(crate) fn run_steps<T: Serialize>(
    steps: u64,
    enabled: bool,
    mut log: Option<&mut MetricsLog>,
    mut step: impl FnMut() -> Result<T>,
    describe: impl Fn(&T) -> String,
) -> Result<Vec<T>> {
    let pb = progress_bar(steps, enabled);
    let mut out = Vec::with_capacity(steps as usize);
    for _ in 0..steps {
        let st = step()?;
        pb.set_message(describe(&st));
        pb.inc(1);
        if let Some(l) = log.as_deref_mut() {
            l.log(&st)?;
        }
        out.push(st);
    }
    pb.finish_and_clear();
    Ok(out)
}

pub fn progress_bar(len: u64, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
    {
        pb.set_style(style);
    }
    pb
}
