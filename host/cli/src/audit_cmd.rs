//! `eigenbox audit ...`: read, prove, export and verify the tamper-evident audit log kept in
//! the host's store.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use eigenbox_audit::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash};
use eigenbox_audit::{AuditConfig, AuditLog, Filter, LogKey, PublicKey, Record, SignedTreeHead};
use eigenbox_store::Store;
use serde_json::json;

#[derive(Args)]
pub struct AuditArgs {
    /// The log's signing key (default: audit.key in the store directory).
    #[arg(long, env = "EIGENBOX_AUDIT_KEY")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    cmd: AuditCmd,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Create the log and its signing key (owner-only permissions); print the public key.
    Init,
    /// Print the public key auditors verify with (hex).
    Pubkey {
        /// Also write it to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List records.
    Show {
        #[command(flatten)]
        filter: FilterArgs,
        /// One JSON record per line.
        #[arg(long)]
        json: bool,
        /// At most this many (the newest).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Write records as JSONL with every signed head and each entry's inclusion proof (signs a
    /// fresh head first, so every entry is covered).
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify an export offline with only the public key; report the first bad entry.
    Verify {
        /// The export (JSONL).
        file: PathBuf,
        /// The public key: hex, or a file holding it.
        #[arg(long)]
        public_key: String,
        /// A signed head (JSON, from `audit head`) kept from before: the export must extend it.
        #[arg(long)]
        trusted_head: Option<PathBuf>,
    },
    /// Inclusion proof of one entry in the tree of the latest signed head (or `--size`).
    Prove {
        /// The entry's sequence number.
        seq: u64,
        /// Tree size (default: the latest signed head's).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Consistency proof that the log at OLD_SIZE is a prefix of the log at NEW_SIZE.
    Consistency {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// Print the latest signed tree head (JSON), or sign one now with --sign.
    Head {
        /// Commit and sign a head at the current size first.
        #[arg(long)]
        sign: bool,
    },
    /// Recompute the stored tree and check every stored head (integrity of the store itself).
    Check,
}

#[derive(Args, Default)]
struct FilterArgs {
    /// Only this run.
    #[arg(long)]
    run: Option<String>,
    /// Only this episode.
    #[arg(long)]
    episode: Option<String>,
    /// Only this actor (component id or agent name).
    #[arg(long)]
    component: Option<String>,
    /// Only this target (`domain/tool`, a tool name, a model, a capability).
    #[arg(long)]
    tool: Option<String>,
    /// Only allowed or only denied.
    #[arg(long, value_enum)]
    decision: Option<DecisionArg>,
    /// From this time on: Unix seconds, or RFC 3339 (`2026-11-25T18:00:00Z`).
    #[arg(long)]
    since: Option<String>,
    /// Before this time (same forms).
    #[arg(long)]
    until: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum DecisionArg {
    Allow,
    Deny,
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter> {
        Ok(Filter {
            run: self.run.clone(),
            episode: self.episode.clone(),
            component: self.component.clone(),
            tool: self.tool.clone(),
            allow: self.decision.map(|d| matches!(d, DecisionArg::Allow)),
            since_ms: self.since.as_deref().map(parse_time).transpose()?,
            until_ms: self.until.as_deref().map(parse_time).transpose()?,
        })
    }
}

/// Unix seconds, or `YYYY-MM-DD[THH:MM[:SS]][Z]` (UTC), as Unix milliseconds.
fn parse_time(s: &str) -> Result<u64> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs.saturating_mul(1000));
    }
    let bad = || anyhow::anyhow!("`{s}` is neither Unix seconds nor an RFC 3339 UTC time like 2026-11-25T18:00:00Z");
    let t = s.trim_end_matches('Z');
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00:00"));
    let d: Vec<i64> = date.split('-').map(|x| x.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let tm: Vec<i64> = time.split(':').map(|x| x.parse().map_err(|_| bad())).collect::<Result<_>>()?;
    let [y, m, day] = match d.as_slice() {
        [y, m, day] => [*y, *m, *day],
        _ => return Err(bad()),
    };
    let [h, mi, sec] = match tm.as_slice() {
        [h, mi] => [*h, *mi, 0],
        [h, mi, s] => [*h, *mi, *s],
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(secs).map(|s| s * 1000).map_err(|_| bad())
}

fn format_time(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

fn key_path(args: &AuditArgs, store: &Path) -> PathBuf {
    args.key.clone().unwrap_or_else(|| store.join("audit.key"))
}

fn open_store(store: &Path) -> Result<Store> {
    if let Some(parent) = store.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(Store::open(store)?)
}

/// The log, with its key when the key file exists.
fn open_log(args: &AuditArgs, store: &Store) -> Result<AuditLog> {
    let path = key_path(args, store.path());
    let key = if path.exists() { Some(LogKey::load(&path)?) } else { None };
    Ok(AuditLog::open(store.db(), key, AuditConfig::default())?)
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

fn decode(s: &str) -> Result<Hash> {
    hex::decode(s)?.try_into().map_err(|_| anyhow::anyhow!("`{s}` is not a 32-byte hash"))
}

pub fn run(args: AuditArgs, store_path: &Path) -> Result<ExitCode> {
    match &args.cmd {
        AuditCmd::Verify { file, public_key, trusted_head } => {
            let text = if Path::new(public_key).is_file() { std::fs::read_to_string(public_key).with_context(|| format!("reading {public_key}"))? } else { public_key.clone() };
            let key = PublicKey::from_hex(&text)?;
            let trusted: Option<SignedTreeHead> = match trusted_head {
                Some(p) => Some(serde_json::from_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?).with_context(|| format!("{} is not a signed tree head", p.display()))?),
                None => None,
            };
            let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            return Ok(match eigenbox_audit::verify_export(&mut BufReader::new(f), &key, trusted.as_ref()) {
                Ok(v) => {
                    println!(
                        "verified: {} entr{} ({}), {} signed head(s), size {}, root {}, key {}",
                        v.entries,
                        if v.entries == 1 { "y" } else { "ies" },
                        if v.complete { "complete log, every root recomputed" } else { "filtered, each entry proved" },
                        v.heads,
                        v.size,
                        v.root,
                        key.key_id()
                    );
                    ExitCode::SUCCESS
                }
                Err(f) => {
                    eprintln!("verification FAILED at {}: {f}", file.display());
                    if let Some(seq) = f.seq {
                        eprintln!("first bad entry: {seq}");
                    }
                    ExitCode::from(1)
                }
            });
        }
        AuditCmd::Init => {
            let store = open_store(store_path)?;
            let path = key_path(&args, store.path());
            let created = !path.exists();
            let key = LogKey::load_or_create(&path)?;
            let log = AuditLog::open(store.db(), Some(key), AuditConfig::default())?;
            let public = log.public_key().context("no key")?;
            println!("{} {} ({} entries)", if created { "created signing key" } else { "signing key exists:" }, path.display(), log.committed());
            println!("public key {}  (key id {})", public.to_hex(), public.key_id());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let store = Store::open(store_path)?;
    let log = open_log(&args, &store)?;
    let key_file = key_path(&args, store.path());
    match args.cmd {
        AuditCmd::Init | AuditCmd::Verify { .. } => bail!("internal: handled above"),
        AuditCmd::Pubkey { out } => {
            let k = log.public_key().with_context(|| format!("no signing key at {} (run `eigenbox audit init`)", key_file.display()))?;
            if let Some(out) = out {
                std::fs::write(&out, format!("{}\n", k.to_hex())).with_context(|| format!("writing {}", out.display()))?;
            }
            println!("{}", k.to_hex());
        }
        AuditCmd::Show { filter, json, limit } => {
            let f = filter.filter()?;
            let mut rows: Vec<Record> = Vec::new();
            for r in log.iter(0) {
                let r = r?;
                if f.matches(&r) {
                    rows.push(r);
                }
            }
            if let Some(n) = limit {
                let skip = rows.len().saturating_sub(n);
                rows.drain(..skip);
            }
            let mut out = std::io::stdout().lock();
            for r in &rows {
                if json {
                    writeln!(out, "{}", serde_json::to_string(r)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>6}  {}  {:<10} {:<20} {:<10} {:<36} {:<5} {:<36} {}",
                        r.seq,
                        format_time(r.time_ms),
                        r.episode.as_deref().unwrap_or("-"),
                        r.actor.component,
                        r.action.as_str(),
                        r.target,
                        if r.decision.allow { "allow" } else { "DENY" },
                        r.decision.rules.join(","),
                        r.outcome.as_str()
                    )?;
                }
            }
            if !json {
                eprintln!("{} of {} record(s)", rows.len(), log.committed());
            }
        }
        AuditCmd::Export { filter, out } => {
            let f = filter.filter()?;
            if log.public_key().is_some() {
                log.checkpoint()?;
            } else {
                eprintln!("warning: no signing key: entries after the last signed head cannot be proved");
            }
            let summary = match &out {
                Some(p) => {
                    let mut file = std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?);
                    eigenbox_audit::export(&log, &f, &mut file)?
                }
                None => eigenbox_audit::export(&log, &f, &mut std::io::stdout().lock())?,
            };
            eprintln!("exported {} of {} entries with {} signed head(s){}", summary.entries, summary.size, summary.heads, out.map(|p| format!(" to {}", p.display())).unwrap_or_default());
        }
        AuditCmd::Prove { seq, size } => {
            let head = log.heads()?.into_iter().rev().find(|h| size.is_none_or(|s| h.size == s));
            let size = match (size, &head) {
                (Some(s), _) => s,
                (None, Some(h)) => h.size,
                (None, None) => bail!("no signed head yet (run `eigenbox audit head --sign`)"),
            };
            let raw = log.raw(seq)?.with_context(|| format!("no entry {seq} (the log has {} committed)", log.committed()))?;
            let leaf = leaf_hash(&raw);
            let path = log.inclusion_proof(seq, size)?;
            let root = log.root_at(size)?;
            let ok = verify_inclusion(seq, size, &leaf, &path, &root) && head.as_ref().is_none_or(|h| decode(&h.root).ok() == Some(root));
            println!("{}", serde_json::to_string_pretty(&json!({"seq": seq, "tree_size": size, "leaf_hash": hex::encode(leaf), "path": hexes(&path), "root": hex::encode(root), "signed_head": head, "verified": ok}))?);
            if !ok {
                eprintln!("the proof does NOT verify against the stored tree: the store is damaged (run `eigenbox audit check`)");
                return Ok(ExitCode::from(1));
            }
        }
        AuditCmd::Consistency { old_size, new_size } => {
            let path = log.consistency_proof(old_size, new_size)?;
            let (old_root, new_root) = (log.root_at(old_size)?, log.root_at(new_size)?);
            let ok = verify_consistency(old_size, new_size, &old_root, &new_root, &path);
            println!("{}", serde_json::to_string_pretty(&json!({"old_size": old_size, "new_size": new_size, "old_root": hex::encode(old_root), "new_root": hex::encode(new_root), "path": hexes(&path), "verified": ok}))?);
            if !ok {
                eprintln!("the proof does NOT verify against the stored tree: the store is damaged (run `eigenbox audit check`)");
                return Ok(ExitCode::from(1));
            }
        }
        AuditCmd::Head { sign } => {
            let head = if sign { Some(log.checkpoint()?) } else { log.latest_head()? };
            match head {
                Some(h) => println!("{}", serde_json::to_string(&h)?),
                None => bail!("no signed head yet (run `eigenbox audit head --sign`)"),
            }
        }
        AuditCmd::Check => {
            let n = log.check(log.public_key().as_ref())?;
            println!("ok: {n} entries and {} signed head(s) recomputed", log.heads()?.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::{format_time, parse_time};

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_time("0").unwrap(), 0);
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("2024-02-29").unwrap(), 1_709_164_800_000);
        assert_eq!(format_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2024-13-01").is_err());
    }
}
