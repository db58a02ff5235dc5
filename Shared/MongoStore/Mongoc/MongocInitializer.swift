internal import CMongoC
import Logging

/// Calls `mongoc_init()` once per process, before the first pool is created, with libmongoc's log routed through
/// swift-log (``MongocLog``). `mongoc_cleanup()` is never called: it may only run when no libmongoc object is left,
/// which for a server is process exit, where the OS cleans up.
enum MongocInitializer {
    private static let initialized: Bool = {
        mongoc_log_set_handler(mongocLogHandler, nil)
        mongoc_init()
        return true
    }()

    static func ensureInitialized() {
        _ = self.initialized
    }
}

/// libmongoc's log lines, through swift-log: the process's logging system (JSON lines in a service, at its
/// `LOG_LEVEL`) instead of libmongoc's default handler, which printed plain text, DEBUG included, into the middle of
/// JSON records on standard output.
enum MongocLog {
    /// Created on first use, after the service bootstrapped its logging.
    static let logger = Logger(label: "libmongoc")

    static func level(_ level: mongoc_log_level_t) -> Logger.Level {
        switch level {
        case MONGOC_LOG_LEVEL_ERROR: .error
        case MONGOC_LOG_LEVEL_CRITICAL: .critical
        case MONGOC_LOG_LEVEL_WARNING: .warning
        case MONGOC_LOG_LEVEL_MESSAGE, MONGOC_LOG_LEVEL_INFO: .info
        case MONGOC_LOG_LEVEL_DEBUG: .debug
        default: .trace
        }
    }
}

/// The `mongoc_log_func_t` installed by ``MongocInitializer``; libmongoc calls it from any thread.
private func mongocLogHandler(
    _ level: mongoc_log_level_t,
    _ domain: UnsafePointer<CChar>?,
    _ message: UnsafePointer<CChar>?,
    _ userData: UnsafeMutableRawPointer?
) {
    let swiftLevel = MongocLog.level(level)
    guard MongocLog.logger.logLevel <= swiftLevel else { return }
    MongocLog.logger.log(
        level: swiftLevel,
        "\(message.map { String(cString: $0) } ?? "")",
        metadata: ["mongoc.domain": "\(domain.map { String(cString: $0) } ?? "mongoc")"]
    )
}
