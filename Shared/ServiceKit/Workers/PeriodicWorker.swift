package import Logging
import ServiceLifecycle

/// A `Service` that runs one pass of periodic work (a sweeper, a delivery loop) every `interval` until graceful
/// shutdown or cancellation.
///
/// On graceful shutdown the pass in progress is finished (so it never stops halfway through a batch) and the wait
/// before the next one is cut short; cancellation stops it at once. A pass that throws is logged and the next one
/// runs after `interval` as usual. Thread-safe: immutable.
package struct PeriodicWorker: Service {
    package let name: String
    package let interval: Duration
    private let logger: Logger
    private let pass: @Sendable () async throws -> Void

    /// - Parameters:
    ///   - name: What the pass does, for logs (e.g. `reservation sweep`).
    ///   - interval: The wait between the end of one pass and the start of the next.
    ///   - logger: Failures are logged at warning level.
    ///   - pass: One pass of the work; it should handle what is due now and return.
    package init(
        _ name: String,
        every interval: Duration,
        logger: Logger,
        pass: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.pass = pass
    }

    package func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await self.pass()
            } catch {
                self.logger.warning("\(self.name) failed; retrying", metadata: ["error": "\(error)"])
            }
            // Graceful shutdown cuts the wait short; the loop condition then ends the worker.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
