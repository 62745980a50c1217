import Dispatch
import Synchronization

/// Produces `count` elements in order on a thread of its own, each while the caller works on the
/// one before: a two-stage pipeline for work that is split into steps whose results must be used
/// in order (the estimate's days: merging day d + 1's cells while day d's lines are written).
///
/// `next()` returns element 0, 1, … in turn; the producer runs at most one element ahead of the
/// one the caller holds, so at most two elements are alive at once (the one returned last, whose
/// use ends at the following `next()` or at `finish()`, and the one being produced). An error
/// thrown by `produce` is thrown by the `next()` that would have returned that element, and
/// nothing is produced after it. The caller must call `finish()` (in a `defer`) before anything
/// `produce` uses goes away: it stops the producer and waits for it.
/// - Memory: two elements.
public final class Prefetched<Element>: @unchecked Sendable {
    private let count: Int
    private let produce: (Int) throws -> Element
    /// Two element slots (element i in slot i % 2: the producer starts element i + 1 only once the
    /// caller has taken element i - 1), written by the producer before it signals `ready`, taken
    /// by the caller after. So `count` may be as large as wanted (`Int.max` for a stream).
    private let slots: UnsafeMutablePointer<Result<Element, any Error>?>
    private var taken = 0
    /// Elements the producer may start: one for the caller's, one ahead (signalled twice in
    /// `init`: libdispatch traps when a semaphore goes away below the value it was made with).
    private let permits = DispatchSemaphore(value: 0)
    private let ready = DispatchSemaphore(value: 0)
    private let done = DispatchGroup()
    private let stopped = Atomic<Bool>(false)
    private var finished = false

    /// Starts producing at once, on `queue`'s thread.
    public init(count: Int, label: String, produce: @escaping (Int) throws -> Element) {
        self.count = count
        self.produce = produce
        slots = .allocate(capacity: 2)
        slots.initialize(repeating: nil, count: 2)
        permits.signal()
        permits.signal()
        let queue = DispatchQueue(label: label)
        queue.async(group: done) { [self] in run() }
    }

    deinit {
        finish()
        slots.deinitialize(count: 2)
        slots.deallocate()
    }

    private func run() {
        for i in 0..<count {
            permits.wait()
            if stopped.load(ordering: .acquiring) { return }
            let result: Result<Element, any Error>
            do { result = .success(try produce(i)) } catch { result = .failure(error) }
            // The slot is the caller's once signalled: what happened is read from `result`.
            let failed = if case .failure = result { true } else { false }
            slots[i & 1] = result
            ready.signal()
            if failed { return }
        }
    }

    /// The next element in order; `nil` after the last. Ends the use of the one returned before.
    public func next() throws -> Element? {
        guard taken < count else { return nil }
        if taken > 0 { permits.signal() }
        ready.wait()
        let result = slots[taken & 1].take()!
        taken += 1
        switch result {
        case .success(let e): return e
        case .failure(let e):
            taken = count
            throw e
        }
    }

    /// Stops the producer (after the element it is producing) and waits for it. Idempotent.
    public func finish() {
        guard !finished else { return }
        finished = true
        stopped.store(true, ordering: .releasing)
        permits.signal()
        permits.signal()
        done.wait()
    }
}

/// One piece of spare storage handed back from a `Prefetched` consumer to its producer (say, the
/// arrays of an element the caller is done with), so that the two threads reuse two sets of
/// buffers instead of allocating one per element: memory stays flat and fresh pages are not
/// touched again for every element.
public final class Recycled<Element>: @unchecked Sendable {
    private let lock = DispatchSemaphore(value: 1)
    private var spare: Element?

    public init() {}

    /// Keeps `element` for the next `take()` (replacing one not taken).
    public func put(_ element: Element) {
        lock.wait()
        spare = element
        lock.signal()
    }

    /// The element put last, if any; the slot is empty afterwards.
    public func take() -> Element? {
        lock.wait()
        defer { lock.signal() }
        return spare.take()
    }
}
