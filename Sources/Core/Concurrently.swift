import Dispatch

/// Runs `body(i)` for every `i` in `0..<count` at once, a thread each (Dispatch's pool), and
/// returns the results in index order; when some calls throw, rethrows the error of the smallest
/// index — what running them one after the other would have thrown first.
/// - Complexity: the longest call, with `count` of them running at once.
public func concurrentMap<T>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
    let slots = (0..<count).map { _ in ResultSlot<T>() }
    if count == 1 {
        slots[0].result = Result { try body(0) }
    } else {
        DispatchQueue.concurrentPerform(iterations: count) { i in slots[i].result = Result { try body(i) } }
    }
    return try slots.map { try $0.result!.get() }
}

/// One call's result, written by the thread that made it and read after all have finished.
private final class ResultSlot<T>: @unchecked Sendable { var result: Result<T, any Error>? }
