import NIOPosix

/// A small pool of dedicated threads (a `NIOThreadPool`) for librdkafka calls that block: `rd_kafka_queue_poll` and
/// `rd_kafka_consumer_poll` with a timeout, metadata requests, commits, `rd_kafka_consumer_close`, flushing.
///
/// This is how KafkaBus keeps blocking calls off the Swift cooperative pool and off NIO event loops: every such call
/// is written inside a closure passed to ``run(_:)``, and only `RDKafkaClient`/`KafkaMockCluster` methods documented
/// as "Blocking: call through BlockingExecutor" make them. The threads are started in `init` (so `checkReachable` works
/// before `run()`) and stopped by ``shutdown()`` at the end of the owning service's `run()`, or by
/// ``shutdownInBackground()`` from `deinit` if `run()` never ran.
///
/// Thread-safe (`NIOThreadPool` is).
final class BlockingExecutor: Sendable {
    private let pool: NIOThreadPool

    /// Starts `numberOfThreads` threads.
    init(numberOfThreads: Int) {
        self.pool = NIOThreadPool(numberOfThreads: numberOfThreads)
        self.pool.start()
    }

    /// Runs `body` on a pool thread and returns its result.
    ///
    /// Unlike `NIOThreadPool.runIfActive`, a job that was submitted is not abandoned when the calling task is
    /// cancelled: it runs to completion and the caller waits for it. That makes cleanup (commit, close, flush) work
    /// from a cancelled `run()`; every blocking librdkafka call KafkaBus makes has a bounded timeout, so the wait is
    /// bounded too.
    /// - Throws: whatever `body` throws, or ``KafkaBusError`` `.shutdown` if the pool has been shut down.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            self.pool.submit { state in
                guard case .active = state else {
                    continuation.resume(throwing: KafkaBusError.shutdown("client is shut down"))
                    return
                }
                continuation.resume(with: Result(catching: body))
            }
        }
    }

    /// Stops the threads after the jobs already running finish; queued jobs fail with `.shutdown`. Idempotent.
    func shutdown() async {
        try? await self.pool.shutdownGracefully()
    }

    /// Like ``shutdown()`` but returns at once (the threads are joined on a background queue); for `deinit`.
    func shutdownInBackground() {
        self.pool.shutdownGracefully { _ in }
    }
}
