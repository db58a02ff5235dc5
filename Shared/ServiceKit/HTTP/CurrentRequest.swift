import Foundation
package import HTTPTypes

/// The request id of the work in progress, bound for the duration of an HTTP request (``RequestIDMiddleware``) or of an
/// event's handling (``ServiceRuntime/makeConsumer(groupID:topics:handler:)``), so outgoing REST calls and published
/// events carry it without every function passing it along.
package enum CurrentRequest {
    @TaskLocal package static var id: String?

    /// The HTTP header that carries it, in and out.
    package static let headerName = HTTPField.Name("X-Request-ID")!
    /// The Kafka header that carries it.
    package static let eventHeader = "x-request-id"

    /// A caller's id when it is safe to log and echo (1–128 characters of `A-Z a-z 0-9 . _ : -`), otherwise `nil`.
    package static func accept(_ candidate: String?) -> String? {
        guard let candidate, (1...128).contains(candidate.utf8.count),
            candidate.utf8.allSatisfy({ byte in byte.isASCIIAlphanumeric || ".:_-".utf8.contains(byte) })
        else { return nil }
        return candidate
    }

    /// A new id for work that arrived without one.
    package static func generate() -> String {
        UUID().uuidString.lowercased()
    }
}

extension UInt8 {
    /// `0-9`, `A-Z` or `a-z`: the bytes every client-chosen token (request ids, idempotency keys) may use.
    package var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self)
    }
}
