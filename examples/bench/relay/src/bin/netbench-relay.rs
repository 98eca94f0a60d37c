//! `netbench-relay`: the delaying relay and the bulk-transfer probe (see the library docs).
//!
//! ```text
//! netbench-relay relay --delay-ms 0.5 --map 0.0.0.0:7100=10.231.0.2:7000 [--map ...]
//! netbench-relay sink --listen 10.231.0.2:9000
//! netbench-relay send --to 10.231.1.1:9000 --bytes 500000000
//! netbench-relay echo --listen 10.231.0.2:9001
//! netbench-relay ping --to 10.231.1.1:9101 --count 200
//! ```
//!
//! `relay` prints "ready" on stdout once every listener is bound, then serves until killed;
//! each time a connection ends it prints its running counters to stderr (so the last line
//! after a request covers the whole request).

use secc_netrelay::{bulk, relay};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: netbench-relay relay --delay-ms MS --map LISTEN=TARGET [--map ...]
       netbench-relay sink --listen ADDR
       netbench-relay send --to ADDR --bytes N
       netbench-relay echo --listen ADDR
       netbench-relay ping --to ADDR --count N";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netbench-relay: error: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// The values of `--name` options, in order.
fn values<'a>(args: &'a [String], name: &str) -> Result<Vec<&'a str>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == name {
            out.push(
                it.next()
                    .ok_or_else(|| format!("{name} needs a value"))?
                    .as_str(),
            );
        }
    }
    Ok(out)
}

fn one<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    match values(args, name)?.as_slice() {
        [v] => Ok(v),
        [] => Err(format!("{name} is required")),
        _ => Err(format!("{name} given more than once")),
    }
}

fn check_known(args: &[String], known: &[&str]) -> Result<(), String> {
    for a in args.iter().filter(|a| a.starts_with("--")) {
        if !known.contains(&a.as_str()) {
            return Err(format!("unknown option {a}"));
        }
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("no command")?;
    match command.as_str() {
        "relay" => {
            check_known(rest, &["--delay-ms", "--map"])?;
            let delay_ms: f64 = one(rest, "--delay-ms")?
                .parse()
                .map_err(|e| format!("--delay-ms: {e}"))?;
            if !(delay_ms.is_finite() && delay_ms >= 0.0) {
                return Err(format!("--delay-ms {delay_ms} is not a delay"));
            }
            let maps = values(rest, "--map")?;
            if maps.is_empty() {
                return Err("--map is required".into());
            }
            let delay = Duration::from_secs_f64(delay_ms / 1e3);
            relay::tighten_timer_slack();
            let stats = Arc::new(relay::RelayStats::default());
            let mut listeners = Vec::new();
            for map in maps {
                let (listen, target) = map
                    .split_once('=')
                    .ok_or_else(|| format!("--map {map:?} is not LISTEN=TARGET"))?;
                let listener = TcpListener::bind(listen)
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                listeners.push((listener, target.to_string()));
            }
            let threads: Vec<_> = listeners
                .into_iter()
                .map(|(listener, target)| {
                    let stats = stats.clone();
                    std::thread::spawn(move || relay::serve(listener, target, delay, stats))
                })
                .collect();
            println!("ready");
            for t in threads {
                let _ = t.join();
            }
            Ok(())
        }
        "sink" => {
            check_known(rest, &["--listen"])?;
            let listen = one(rest, "--listen")?;
            let listener =
                TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            println!("ready");
            let r = bulk::sink_one(&listener).map_err(|e| format!("sink on {listen}: {e}"))?;
            eprintln!(
                "sink: {} bytes in {:.3} s = {:.1} Mbit/s",
                r.bytes,
                r.seconds,
                r.megabits_per_second()
            );
            Ok(())
        }
        "send" => {
            check_known(rest, &["--to", "--bytes"])?;
            let to = one(rest, "--to")?;
            let bytes: u64 = one(rest, "--bytes")?
                .parse()
                .map_err(|e| format!("--bytes: {e}"))?;
            let r = bulk::send(to, bytes).map_err(|e| format!("send to {to}: {e}"))?;
            println!(
                "{} bytes in {:.3} s = {:.1} Mbit/s (timed by the sink, first byte to end)",
                r.bytes,
                r.seconds,
                r.megabits_per_second()
            );
            if r.bytes != bytes {
                return Err(format!("the sink counted {} of {bytes} bytes", r.bytes));
            }
            Ok(())
        }
        "echo" => {
            check_known(rest, &["--listen"])?;
            let listen = one(rest, "--listen")?;
            let listener =
                TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            println!("ready");
            bulk::echo_one(&listener).map_err(|e| format!("echo on {listen}: {e}"))
        }
        "ping" => {
            check_known(rest, &["--to", "--count"])?;
            let to = one(rest, "--to")?;
            let count: usize = one(rest, "--count")?
                .parse()
                .map_err(|e| format!("--count: {e}"))?;
            let mut rtts = bulk::ping(to, count).map_err(|e| format!("ping {to}: {e}"))?;
            rtts.sort_by(f64::total_cmp);
            let mean = rtts.iter().sum::<f64>() / rtts.len().max(1) as f64;
            let pick = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize] * 1e3;
            println!(
                "{count} round trips of 64 bytes: mean {:.3} ms, min {:.3}, median {:.3}, p90 {:.3}, max {:.3}",
                mean * 1e3,
                pick(0.0),
                pick(0.5),
                pick(0.9),
                pick(1.0)
            );
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}
