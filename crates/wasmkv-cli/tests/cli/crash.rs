//! Group commit under crashes: many writers in one process (`wasmkv serve`
//! handling concurrent increments, so several writes share each commit) and
//! several processes (kvtool write loops) on one SQLite file, all killed
//! with SIGKILL at a random moment, round after round. Every acknowledged
//! write must be there afterwards, and the file must pass
//! `PRAGMA integrity_check`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::common::http::{Server, runtime, try_get};
use crate::common::{NOTHING_ACKED, WriteLoop, kvtool, run, workdir};

const ROUNDS: usize = 6;
const HTTP_CLIENTS: usize = 8;
const WRITER_PROCESSES: usize = 2;

#[test]
fn acknowledged_writes_survive_kill_9_at_random_moments_with_many_writers() {
    let dir = workdir();
    let d = dir.path();
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let rt = runtime();
    let mut acked_count = 0;
    for round in 0..ROUNDS {
        let mut server = Server::start(d, "http_probe", &[]);
        let writers: Vec<WriteLoop> = (0..WRITER_PROCESSES)
            .map(|w| WriteLoop::start(d, &[], &format!("r{round}w{w}-")))
            .collect();
        let max_acked = Arc::new(AtomicU64::new(0));
        let addr = server.addr().to_string();
        let clients: Vec<_> = (0..HTTP_CLIENTS)
            .map(|_| {
                let (addr, max_acked) = (addr.clone(), max_acked.clone());
                rt.spawn(async move {
                    loop {
                        match try_get(&addr, "/incr?key=hits").await {
                            Ok((200, body)) => {
                                let n: u64 = body.trim().parse().expect("a count");
                                max_acked.fetch_max(n, Ordering::SeqCst);
                            }
                            Ok(_) => {}
                            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                })
            })
            .collect();
        // Let the writers get going, then crash at a random moment.
        let started = Instant::now();
        while writers.iter().any(|w| w.last_acked() == NOTHING_ACKED)
            || max_acked.load(Ordering::SeqCst) == 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no write was acknowledged"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 400));
        let mut writers = writers;
        for w in &mut writers {
            w.kill();
        }
        server.kill9();
        // Only now read what was acknowledged: nothing after the kill counts.
        let served = max_acked.load(Ordering::SeqCst);
        for client in clients {
            client.abort();
        }

        let hits = kvtool(d, &[], &["get", "default", "hits"]).success();
        let hits: u64 = hits.stdout.trim().parse().expect("a count");
        eprintln!("round {round}: {served} increments acknowledged over HTTP, count {hits}");
        assert!(
            hits >= served,
            "round {round}: increment {served} was acknowledged, the count is {hits}"
        );
        for w in writers {
            let prefix = w.prefix.clone();
            let last = w.finish();
            let listed = run(d, &["kv", "list", "default", "--prefix", &prefix]).success();
            let present: BTreeSet<&str> = listed.stdout.lines().collect();
            for i in 0..=last {
                let key = format!("{prefix}{i}");
                assert!(
                    present.contains(key.as_str()),
                    "round {round}: acknowledged write {key} is lost (last acknowledged {last})"
                );
            }
            eprintln!("round {round}: {prefix} wrote {} keys", last + 1);
            acked_count += last + 1;
        }
        acked_count += served;
    }
    assert!(acked_count > 0);

    let db = rusqlite::Connection::open(d.join(".wasmkv/default.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
