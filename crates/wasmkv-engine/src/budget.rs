//! The bytes the host holds on one instance's behalf (value bodies, stream
//! buffers, compare-and-swap snapshots, batch results), counted against
//! `max_instance_bytes`: a guest's linear memory is capped by the runtime,
//! and this caps what it can make the host hold outside it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Cause;

/// One instance's allowance of host-held bytes; clones share it.
#[derive(Clone, Debug)]
pub struct HostBudget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max: usize,
    used: AtomicUsize,
    /// Every instance's bytes together, when the host counts them.
    all: Option<Arc<AtomicUsize>>,
}

impl HostBudget {
    /// An allowance of `max` bytes, none of them used.
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max,
                used: AtomicUsize::new(0),
                all: None,
            }),
        }
    }

    /// As [`HostBudget::new`], also counting into `all`, the total of every
    /// instance's held bytes that a host reports (see
    /// [`Engine::host_held_bytes`](crate::Engine::host_held_bytes)).
    pub fn counted_in(max: usize, all: Arc<AtomicUsize>) -> Self {
        Self {
            inner: Arc::new(Inner {
                max,
                used: AtomicUsize::new(0),
                all: Some(all),
            }),
        }
    }

    /// The allowance.
    pub fn max(&self) -> usize {
        self.inner.max
    }

    /// Bytes currently held.
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Bytes that may still be charged.
    pub fn remaining(&self) -> usize {
        self.max().saturating_sub(self.used())
    }

    /// A charge of nothing, for a body that will grow.
    pub fn empty_charge(&self) -> Charge {
        Charge {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Charges `bytes`, refused (with nothing charged) when that would pass
    /// the allowance. The charge is returned when the [`Charge`] drops.
    pub fn charge(&self, bytes: usize) -> Result<Charge, Cause> {
        self.add(bytes)?;
        Ok(Charge {
            budget: self.clone(),
            bytes,
        })
    }

    fn add(&self, bytes: usize) -> Result<(), Cause> {
        let max = self.max();
        self.inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= max)
            })
            .map(|_| {
                if let Some(all) = &self.inner.all {
                    all.fetch_add(bytes, Ordering::Relaxed);
                }
            })
            .map_err(|used| Cause::TooMany {
                what: format!("holding {bytes} more bytes for this instance ({used} held)"),
                limit: "max_instance_bytes",
                max,
            })
    }
}

/// Bytes charged to a [`HostBudget`] while the host holds them.
#[derive(Debug)]
pub struct Charge {
    budget: HostBudget,
    bytes: usize,
}

impl Charge {
    /// The budget this charge is against.
    pub fn budget(&self) -> &HostBudget {
        &self.budget
    }

    /// Bytes this charge covers.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Charges `more` bytes to the same budget, for a body that grows.
    pub fn grow(&mut self, more: usize) -> Result<(), Cause> {
        self.budget.add(more)?;
        self.bytes += more;
        Ok(())
    }

    /// Returns every byte of this charge to the budget, keeping the charge
    /// (at zero) for a body that will be refilled.
    pub fn release(&mut self) {
        drop(self.split_off(self.bytes));
    }

    /// Moves `bytes` (at most all) of this charge into a charge of their
    /// own, so each part of a batch result is returned when it is dropped.
    pub fn split_off(&mut self, bytes: usize) -> Charge {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Charge {
            budget: self.budget.clone(),
            bytes,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let inner = &self.budget.inner;
        inner.used.fetch_sub(self.bytes, Ordering::Relaxed);
        if let Some(all) = &inner.all {
            all.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_refused_past_the_allowance_and_returned_on_drop() {
        let budget = HostBudget::new(100);
        let mut a = budget.charge(60).unwrap();
        assert!(matches!(
            budget.charge(41),
            Err(Cause::TooMany {
                limit: "max_instance_bytes",
                max: 100,
                ..
            })
        ));
        assert_eq!(budget.used(), 60);
        assert!(a.grow(41).is_err());
        a.grow(40).unwrap();
        let part = a.split_off(30);
        assert_eq!((a.bytes(), part.bytes(), budget.used()), (70, 30, 100));
        drop(a);
        assert_eq!(budget.remaining(), 70);
        drop(part);
        assert_eq!(budget.used(), 0);
        assert!(budget.charge(usize::MAX).is_err());
    }

    #[test]
    fn a_counted_budget_adds_to_the_total_and_returns_to_it() {
        let all = Arc::new(AtomicUsize::new(0));
        let (a, b) = (
            HostBudget::counted_in(100, all.clone()),
            HostBudget::counted_in(100, all.clone()),
        );
        let mut held = a.charge(60).unwrap();
        let other = b.charge(30).unwrap();
        assert!(a.charge(41).is_err());
        assert_eq!(all.load(Ordering::Relaxed), 90);
        held.grow(10).unwrap();
        drop(held.split_off(5));
        assert_eq!(all.load(Ordering::Relaxed), 95);
        drop((held, other));
        assert_eq!(all.load(Ordering::Relaxed), 0);
    }
}
