//! `eigenbox report`: an HTML report of an `eigenbox run` results file: the summary, the
//! pass^k curve (inline SVG, no scripts or external files), the failure breakdown by reward
//! component and by termination reason, and every task's trials.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

/// Arguments of `eigenbox report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A results file written by `eigenbox run` (or `eigenbox score`).
    results: PathBuf,
    /// The HTML file to write (default: the results path with `.html`).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The pass^k curve as an SVG polyline with labelled axes.
fn pass_k_svg(points: &[(usize, f64)]) -> String {
    let (w, h, left, bottom, top, right) = (480.0, 260.0, 48.0, 36.0, 16.0, 16.0);
    let max_k = points.iter().map(|p| p.0).max().unwrap_or(1).max(2) as f64;
    let x = |k: usize| left + (k as f64 - 1.0) / (max_k - 1.0) * (w - left - right);
    let y = |v: f64| top + (1.0 - v.clamp(0.0, 1.0)) * (h - top - bottom);
    let mut s = format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="pass^k curve">"#);
    for i in 0..=4 {
        let v = f64::from(i) / 4.0;
        let _ = write!(s, r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{v:.2}</text>"##, w - right, left - 6.0, y(v) + 4.0, y = y(v));
    }
    for p in points {
        let _ = write!(s, r#"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle">{}</text>"#, x(p.0), h - bottom + 16.0, p.0);
    }
    let _ = write!(s, r#"<text x="{:.1}" y="{}" font-size="12" text-anchor="middle">k</text>"#, (left + w - right) / 2.0, h - 4.0);
    let line: Vec<String> = points.iter().map(|&(k, v)| format!("{:.1},{:.1}", x(k), y(v))).collect();
    let _ = write!(s, r##"<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{}"/>"##, line.join(" "));
    for &(k, v) in points {
        let _ = write!(s, r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="#2563eb"><title>pass^{k} = {v:.3}</title></circle>"##, x(k), y(v));
    }
    s.push_str("</svg>");
    s
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    s
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let text = std::fs::read(&args.results).with_context(|| format!("reading {}", args.results.display()))?;
    let doc: Value = serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", args.results.display()))?;
    let (Some(params), Some(episodes)) = (doc.get("params"), doc.get("episodes").and_then(Value::as_array)) else {
        bail!("{} is not a results file of `eigenbox run` (no `params` / `episodes`)", args.results.display());
    };
    let metrics = doc.get("metrics").cloned().unwrap_or(Value::Null);
    let domain = params.get("domain").and_then(Value::as_str).unwrap_or("?");

    // pass^k points, in k order.
    let mut points: Vec<(usize, f64)> = metrics
        .get("pass_hat_ks")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.parse().ok()?, v.as_f64()?))).collect())
        .unwrap_or_default();
    points.sort_by_key(|p| p.0);

    // Failures: by termination reason, and by the reward components that were not 1.
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut components: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_task: BTreeMap<String, Vec<(u64, Option<f64>, String)>> = BTreeMap::new();
    let (mut failed, mut unscored) = (0usize, 0usize);
    for e in episodes {
        let task = e.pointer("/episode/task_id").and_then(Value::as_str).unwrap_or("?").to_string();
        let reason = e.pointer("/episode/termination_reason").and_then(Value::as_str).unwrap_or("?").to_string();
        let reward = e.get("reward").and_then(Value::as_f64);
        let trial = e.get("trial").and_then(Value::as_u64).unwrap_or(0);
        match reward {
            None => unscored += 1,
            Some(r) if r < 1.0 => {
                failed += 1;
                *reasons.entry(reason.clone()).or_default() += 1;
                let breakdown = e.pointer("/evaluation/reward_info/reward_breakdown").and_then(Value::as_object);
                match breakdown {
                    Some(b) => {
                        for (c, v) in b {
                            if v.as_f64().is_some_and(|v| v < 1.0) {
                                *components.entry(c.clone()).or_default() += 1;
                            }
                        }
                    }
                    None => *components.entry("(none: the termination reason gave 0)".into()).or_default() += 1,
                }
            }
            Some(_) => {}
        }
        per_task.entry(task).or_default().push((trial, reward, reason));
    }

    let num = |k: &str| metrics.get(k).and_then(Value::as_f64).map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>eigenbox report: {d}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}th{{background:#f3f4f6}}.ok{{color:#15803d}}.bad{{color:#b91c1c}}\
         </style></head><body><h1>eigenbox run report: {d}</h1>",
        d = esc(domain)
    );
    let _ = write!(
        html,
        "<p>{} episode(s) over {} task(s); average reward <b>{}</b>; {failed} failed, {unscored} not scored. Agent <code>{}</code>, user <code>{}</code>. Source: <code>{}</code>.</p>",
        episodes.len(),
        per_task.len(),
        num("avg_reward"),
        esc(params.pointer("/agent/model").and_then(Value::as_str).unwrap_or("?")),
        esc(params.pointer("/user/model").and_then(Value::as_str).unwrap_or("?")),
        esc(&args.results.display().to_string())
    );
    html.push_str("<h2>pass^k</h2>");
    if points.is_empty() {
        html.push_str("<p>No pass^k (no task has a scored trial).</p>");
    } else {
        html.push_str(&pass_k_svg(&points));
        html.push_str(&table(&["k", "pass^k"], &points.iter().map(|(k, v)| vec![k.to_string(), format!("{v:.3}")]).collect::<Vec<_>>()));
    }
    html.push_str("<h2>Failures by reward component</h2>");
    html.push_str(&table(&["component below 1", "episodes"], &components.iter().map(|(c, n)| vec![esc(c), n.to_string()]).collect::<Vec<_>>()));
    html.push_str("<h2>Failures by termination reason</h2>");
    html.push_str(&table(&["termination reason", "episodes"], &reasons.iter().map(|(c, n)| vec![esc(c), n.to_string()]).collect::<Vec<_>>()));
    html.push_str("<h2>Tasks</h2>");
    let rows: Vec<Vec<String>> = per_task
        .iter()
        .map(|(t, trials)| {
            let cells: Vec<String> = trials
                .iter()
                .map(|(i, r, why)| match r {
                    Some(r) if *r >= 1.0 => format!("<span class=\"ok\" title=\"{}\">#{i} {r:.2}</span>", esc(why)),
                    Some(r) => format!("<span class=\"bad\" title=\"{}\">#{i} {r:.2}</span>", esc(why)),
                    None => format!("<span title=\"{}\">#{i} –</span>", esc(why)),
                })
                .collect();
            vec![esc(t), cells.join(" ")]
        })
        .collect();
    html.push_str(&table(&["task", "trials (reward; hover: termination)"], &rows));
    html.push_str("</body></html>\n");

    let out = args.out.unwrap_or_else(|| args.results.with_extension("html"));
    std::fs::write(&out, html).with_context(|| format!("writing {}", out.display()))?;
    println!("report written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
