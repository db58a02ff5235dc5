import Synchronization

/// Lets a KafkaBus loop sleep until librdkafka has something for it, instead of waking on a timer to poll.
///
/// librdkafka calls ``signal()`` from its own threads when one of a client's queues goes from empty to non-empty
/// (`rd_kafka_queue_cb_event_enable`, registered by `RDKafkaClient`); a stop request calls it too. The loop polls its
/// queue without waiting until the queue is empty, then calls ``wait(atMost:)``. A signal that arrives while nobody
/// waits is kept, so one that lands between the empty poll and the wait is never lost.
///
/// Thread-safe: the state is in one `Mutex`; ``signal()`` never calls librdkafka and never blocks (librdkafka holds
/// the queue's lock while it calls it).
final class QueueWakeup: Sendable {
    private struct State {
        /// A signal arrived while nobody was waiting.
        var signalled = false
        /// The suspended wait, with its number.
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var lastWaitID: UInt64 = 0
        /// The number of the last wait cancelled (possibly before it suspended).
        var cancelledWaitID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Wakes the current wait, or the next one if nobody waits now.
    func signal() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.signalled = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Returns when signalled (now, or since the last wait returned) or after `timeout`, whichever comes first.
    /// The timeout is a safety net (and keeps a consumer polling within `max.poll.interval.ms`), not the way work is
    /// found.
    func wait(atMost timeout: Duration) async {
        if self.takeSignal() { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func takeSignal() -> Bool {
        self.state.withLock { state in
            defer { state.signalled = false }
            return state.signalled
        }
    }

    private func waitForSignal() async {
        let id = self.state.withLock { state in
            state.lastWaitID &+= 1
            return state.lastWaitID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.signalled || state.cancelledWaitID == id {
                        state.signalled = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter, waiter.id == id else {
                    state.cancelledWaitID = id
                    return nil
                }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume()
        }
    }
}
