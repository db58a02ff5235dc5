import NIOPosix
import Synchronization

/// Runs the librdkafka calls that block (metadata requests, commits, `rd_kafka_consumer_close`, flushing, purging)
/// on dedicated threads, never on the Swift concurrency pool or a NIO event loop.
///
/// This is how KafkaBus keeps blocking calls off the cooperative pool and the event loops: every such call is written
/// inside a closure passed to ``run(_:)``, and only `RDKafkaClient`/`KafkaMockCluster` methods documented as "Blocking:
/// call through BlockingExecutor" make them. Polls do not block (KafkaBus polls with a zero timeout and sleeps on a
/// ``QueueWakeup`` instead), so these calls are rare and short-lived.
///
/// The clients of a process share one small pool (``shared()``: two threads for all its producers and consumers,
/// started on first use and kept for the life of the process); each client holds its own executor value so that
/// after ``shutdown()`` its calls fail with `.shutdown` while the others go on. A tool may own a pool of its own
/// (``init(numberOfThreads:)``), stopped by ``shutdown()``.
///
/// Thread-safe (`NIOThreadPool` is; the shutdown flag is atomic).
final class BlockingExecutor: Sendable {
    /// The process's pool for KafkaBus's blocking calls.
    private static let sharedPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    private let pool: NIOThreadPool
    /// Whether `shutdown()` stops the pool (a pool of its own) or only this executor (the shared pool).
    private let ownsPool: Bool
    private let isShutDown = Atomic(false)

    /// An executor on the process's shared pool.
    static func shared() -> BlockingExecutor {
        BlockingExecutor(pool: Self.sharedPool, ownsPool: false)
    }

    /// An executor with a pool of its own, of `numberOfThreads` threads, started now.
    convenience init(numberOfThreads: Int) {
        let pool = NIOThreadPool(numberOfThreads: numberOfThreads)
        pool.start()
        self.init(pool: pool, ownsPool: true)
    }

    private init(pool: NIOThreadPool, ownsPool: Bool) {
        self.pool = pool
        self.ownsPool = ownsPool
    }

    /// Runs `body` on a pool thread and returns its result.
    ///
    /// Unlike `NIOThreadPool.runIfActive`, a job that was submitted is not abandoned when the calling task is
    /// cancelled: it runs to completion and the caller waits for it. That makes cleanup (commit, close, flush) work
    /// from a cancelled `run()`; every blocking librdkafka call KafkaBus makes has a bounded timeout, so the wait is
    /// bounded too.
    /// - Throws: whatever `body` throws, or ``KafkaBusError`` `.shutdown` after ``shutdown()``.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard !self.isShutDown.load(ordering: .acquiring) else {
            throw KafkaBusError.shutdown("client is shut down")
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            self.pool.submit { state in
                guard case .active = state else {
                    continuation.resume(throwing: KafkaBusError.shutdown("client is shut down"))
                    return
                }
                continuation.resume(with: Result(catching: body))
            }
        }
    }

    /// Refuses further jobs (they fail with `.shutdown`); a pool of its own is stopped after the jobs already running
    /// finish. Idempotent.
    func shutdown() async {
        self.isShutDown.store(true, ordering: .releasing)
        if self.ownsPool {
            try? await self.pool.shutdownGracefully()
        }
    }

    /// Like ``shutdown()`` but returns at once (a pool of its own is joined on a background queue); for `deinit`.
    func shutdownInBackground() {
        self.isShutDown.store(true, ordering: .releasing)
        if self.ownsPool {
            self.pool.shutdownGracefully { _ in }
        }
    }
}
