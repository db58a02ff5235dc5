internal import CMongoC

/// Calls `mongoc_init()` once per process, before the first pool is created. `mongoc_cleanup()` is never called:
/// it may only run when no libmongoc object is left, which for a server is process exit, where the OS cleans up.
enum MongocInitializer {
    private static let initialized: Bool = {
        mongoc_init()
        return true
    }()

    static func ensureInitialized() {
        _ = self.initialized
    }
}
