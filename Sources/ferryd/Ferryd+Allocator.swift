#if canImport(Glibc)
    import CMalloc
#endif

extension Ferryd {
    /// How much free memory glibc keeps at the top of each heap instead of giving it back: a
    /// whole per-thread heap (64 MiB on 64-bit), so that none is unmapped when it empties.
    static let allocatorTopPad: Int32 = 64 << 20
    /// Allocations from this size up get their own mapping. Setting the pad turns off glibc's
    /// sliding threshold (which rises up to 32 MiB as large blocks are freed), and its 128 KiB
    /// start would map and unmap every catch-up read chunk (256 KiB) and large append buffer.
    static let allocatorMmapThreshold: Int32 = 4 << 20

    /// Keeps the allocator from giving memory back and mapping it again on every burst.
    ///
    /// The broker thread's long-lived tables (the dedup window, the tail cache) fill most of its
    /// glibc heap, so each pass's short-lived buffers spill into a second heap, which glibc
    /// unmaps whenever it empties and maps again, one `mprotect` per page of growth: about one
    /// per 24 events at 10 000 events/s, each a TLB shootdown across the CPUs. With the pad the
    /// second heap stays; memory stays bounded by the process's peak, it is only not returned
    /// to the system after one.
    static func tuneAllocator() {
        #if canImport(Glibc)
            _ = mallopt(M_TOP_PAD, allocatorTopPad)
            _ = mallopt(M_MMAP_THRESHOLD, allocatorMmapThreshold)
        #endif
    }
}
