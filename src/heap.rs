//! What a value takes on the heap, as the allocator hands it out: the one
//! estimate the memory-bounded caches weigh their entries by.
//!
//! glibc's malloc (the allocator sealgate runs on) serves a request of `n`
//! bytes from a chunk of `n` plus its 8-byte size field, rounded up to 16,
//! and never less than 32: a 22-byte string takes 32 bytes, a 1,500-byte
//! token 1,520. Summing chunks rather than lengths is what makes a bound
//! in these bytes a bound on resident memory (BENCHMARKS.md, "The
//! open-cache in resident memory", checks it against VmRSS).

/// The bytes of the chunk that serves an allocation of `bytes`; nothing for
/// nothing (an empty `String` or `Vec` allocates nothing).
pub const fn block(bytes: usize) -> usize {
    if bytes == 0 {
        return 0;
    }
    let chunk = (bytes + 8).next_multiple_of(16);
    if chunk < 32 {
        32
    } else {
        chunk
    }
}

/// A `String`'s (or `Box<str>`'s) heap: its text's chunk.
pub fn text(text: &str) -> usize {
    block(text.len())
}

/// An `Arc<T>`'s heap: one chunk holding the two counts and the value.
pub const fn arc<T>() -> usize {
    block(2 * size_of::<usize>() + size_of::<T>())
}

/// A `Vec<T>` of `len` items' heap, without what the items own.
pub const fn items<T>(len: usize) -> usize {
    block(len * size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_16_byte_multiples_with_a_size_field_and_a_floor_of_32() {
        assert_eq!([0, 1, 24, 25, 40, 1500].map(block), [0, 32, 32, 48, 48, 1520]);
        assert_eq!(text("a-22-byte-session-id!!"), 32);
        assert_eq!(arc::<u64>(), 32);
        assert_eq!(items::<String>(3), block(72));
    }
}
