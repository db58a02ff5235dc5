/// Every failure of ``MongoStore`` and ``MongoCollection``, whatever its origin (libmongoc, libbson, the server,
/// decoding, shutdown).
///
/// Branch on ``code``; it is a struct with static values, so new codes do not break callers' `switch`es.
/// ``description`` names only the code and the server's numeric code, never hosts, credentials or queries;
/// ``detail`` holds the underlying message for logs (`String(reflecting:)` includes it).
package struct MongoStoreError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        package var description: String { self.name }

        /// A unique index rejected the write (server codes 11000, 11001, 12582).
        package static let duplicateKey = Code("duplicateKey")
        /// A network read or the server's own time limit ran out; the operation may or may not have been applied.
        package static let timeout = Code("timeout")
        /// The connection broke during the operation; it may or may not have been applied.
        package static let connectionLost = Code("connectionLost")
        /// No server could be reached within the server-selection timeout; nothing was sent.
        package static let unavailable = Code("unavailable")
        /// Two transactions touched the same document; retrying the transaction is safe.
        package static let writeConflict = Code("writeConflict")
        /// A document or filter could not be turned into BSON.
        package static let invalidDocument = Code("invalidDocument")
        /// A stored document does not decode into the requested Swift type.
        package static let decoding = Code("decoding")
        /// Any other error the server reported; see ``MongoStoreError/serverCode``.
        package static let server = Code("server")
        /// The store is closed (the service is shutting down).
        package static let shutdown = Code("shutdown")
        /// The configuration is unusable (bad URI, bad option).
        package static let configuration = Code("configuration")
    }

    package let code: Code
    /// The server's numeric error code, when the server reported one.
    package let serverCode: Int?
    /// The server's error labels (`TransientTransactionError`, `UnknownTransactionCommitResult`, ...).
    package let labels: [String]
    /// The underlying message, for logs only: it may name hosts.
    package let detail: String
    package let file: String
    package let line: Int

    package init(
        _ code: Code,
        _ detail: String,
        serverCode: Int? = nil,
        labels: [String] = [],
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.detail = detail
        self.serverCode = serverCode
        self.labels = labels
        self.file = file
        self.line = line
    }

    /// Whether the same operation may succeed if tried again later (the store was unreachable, slow or busy,
    /// or a transaction lost a race). Writes that timed out may already have been applied: retry only idempotent ones.
    package var isRetriable: Bool {
        [.timeout, .connectionLost, .unavailable, .writeConflict].contains(self.code)
            || self.labels.contains("TransientTransactionError")
    }

    package var description: String {
        "MongoStoreError(\(self.code)\(self.serverCode.map { ", server code \($0)" } ?? ""))"
    }

    package var debugDescription: String {
        "MongoStoreError(\(self.code), serverCode: \(self.serverCode.map(String.init) ?? "nil"), "
            + "labels: \(self.labels), detail: \(self.detail), at: \(self.file):\(self.line))"
    }
}
