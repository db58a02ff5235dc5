import NIOCore
import NIOPosix

/// Process-wide settings that make a service lighter, applied first thing in ``ServiceRuntime/run(_:build:)`` (a
/// service's `main`; tests, which build services in-process, do not apply them).
enum ProcessTuning {
    static func apply() {
        // Swift concurrency runs its jobs on NIO's event loops instead of a second pool of threads: a request's
        // handler then continues on the loop that read it, without a hop between pools (and two threads fewer).
        // Safe because nothing blocks in async code: blocking C calls run on the store's and KafkaBus's own threads.
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
