//! A little work pool for downloads and unpacks: items run on a few threads,
//! but each is *announced* on the calling thread first, in order. The
//! narrator is neither `Send` nor `Sync` and may pause (step-through), so it
//! stays on one thread and sees each step just as a worker takes it up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

/// Run `work(i)` for every `i in 0..count` on up to `threads` threads.
/// `announce(i)` runs on the calling thread right before item `i` is handed
/// to a free worker; an error from it stops the hand-out (items already
/// running finish). After a failed item no further item is started.
/// Returns the error of the lowest failed item, else the announce error.
pub fn run_announced<E: Send>(
    count: usize,
    threads: usize,
    mut announce: impl FnMut(usize) -> Result<(), E>,
    work: impl Fn(usize) -> Result<(), E> + Sync,
) -> Result<(), E> {
    if count == 0 {
        return Ok(());
    }
    let threads = threads.clamp(1, count);
    // Rendezvous channel: a send completes only when a worker takes the item.
    let (tx, rx) = mpsc::sync_channel::<usize>(0);
    let rx = Mutex::new(rx);
    let failed = AtomicBool::new(false);
    let results: Vec<Mutex<Option<Result<(), E>>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let mut announce_err = None;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let next = rx.lock().unwrap().recv();
                let Ok(i) = next else { return };
                let r = work(i);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                *results[i].lock().unwrap() = Some(r);
            });
        }
        for i in 0..count {
            if failed.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = announce(i) {
                announce_err = Some(e);
                break;
            }
            if tx.send(i).is_err() {
                break;
            }
        }
        drop(tx);
    });
    for r in results {
        if let Some(Err(e)) = r.into_inner().unwrap() {
            return Err(e);
        }
    }
    match announce_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn announces_in_order_and_runs_everything() {
        let mut seen = Vec::new();
        let done = AtomicUsize::new(0);
        run_announced::<()>(
            7,
            3,
            |i| {
                seen.push(i);
                Ok(())
            },
            |_| {
                done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        assert_eq!(done.load(Ordering::SeqCst), 7);
    }

    #[test]
    fn an_announce_error_stops_the_rest() {
        let done = AtomicUsize::new(0);
        let r = run_announced(
            5,
            2,
            |i| if i == 2 { Err("abort") } else { Ok(()) },
            |_| {
                done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        );
        assert_eq!(r, Err("abort"));
        assert_eq!(done.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_lowest_failure_is_reported() {
        let r = run_announced(3, 1, |_| Ok(()), |i| if i >= 1 { Err(i) } else { Ok(()) });
        assert_eq!(r, Err(1));
    }
}
