//! Text kept for the life of the process, so that responses can carry it
//! as static header values.
//!
//! Every `/auth/verify` answer clones a session's identity header values
//! into the response and drops them once it is written. A value on shared
//! `Bytes` pays an atomic reference-count operation for each, twelve per
//! answer. A static value pays none, and under load that shows in
//! throughput (BENCHMARKS.md, session 7).
//!
//! Static means never freed, so the store is bounded: it keeps each
//! distinct text once (a user's identity is the same text in every session
//! and on every worker), and stops keeping new texts when its budget is
//! spent. Past that, callers fall back to shared `Bytes`, which cost what
//! they always did. The texts are identities taken from sealed sessions,
//! never from anything a client sent unsealed.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

/// What each kept text costs against the budget beyond its bytes: the
/// allocation and the set's share of it, roughly.
const OVERHEAD: usize = 64;

pub struct KeptText {
    budget: usize,
    kept: Mutex<Kept>,
}

struct Kept {
    spent: usize,
    texts: BTreeSet<&'static str>,
}

/// The store for identity header values: 4 MiB, about 30,000 identities of
/// 70 bytes.
pub static IDENTITIES: KeptText = KeptText::new(4 << 20);

impl KeptText {
    pub const fn new(budget: usize) -> KeptText {
        KeptText { budget, kept: Mutex::new(Kept { spent: 0, texts: BTreeSet::new() }) }
    }

    /// `text`, kept for the life of the process: the same `&'static str`
    /// for the same text every time. `None` once the budget is spent.
    pub fn keep(&self, text: &str) -> Option<&'static str> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&held) = kept.texts.get(text) {
            return Some(held);
        }
        let cost = text.len() + OVERHEAD;
        if kept.spent + cost > self.budget {
            return None;
        }
        kept.spent += cost;
        let held: &'static str = Box::leak(text.into());
        kept.texts.insert(held);
        Some(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_kept_once() {
        let store = KeptText::new(1024);
        let first = store.keep("ivy,credentials,ivy@example.com").unwrap();
        let again = store.keep(&String::from("ivy,credentials,ivy@example.com")).unwrap();
        assert_eq!(first, "ivy,credentials,ivy@example.com");
        assert!(std::ptr::eq(first, again), "kept twice");
        let other = store.keep("jo,credentials").unwrap();
        assert_eq!(other, "jo,credentials");
        assert!(!std::ptr::eq(first.as_ptr(), other.as_ptr()));
    }

    #[test]
    fn nothing_new_is_kept_past_the_budget_but_what_is_kept_stays() {
        let store = KeptText::new(2 * (OVERHEAD + 10));
        let a = store.keep("aaaaaaaaaa").unwrap();
        let b = store.keep("bbbbbbbbbb").unwrap();
        assert_eq!(store.keep("c"), None, "the budget is spent");
        assert!(std::ptr::eq(store.keep("aaaaaaaaaa").unwrap(), a));
        assert!(std::ptr::eq(store.keep("bbbbbbbbbb").unwrap(), b));
        let small = KeptText::new(OVERHEAD + 4);
        assert_eq!(small.keep("12345"), None, "one byte over");
        assert_eq!(small.keep("1234"), Some("1234"));
    }
}
