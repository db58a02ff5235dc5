import Foundation
import Synchronization

/// A MongoDB ObjectId: 12 bytes, shown as 24 lower-case hex digits.
///
/// Use it only for `_id` fields: the dev store cannot match an ObjectId stored in any other field (dev-store.md gap 1),
/// so references to other documents are stored as the hex string (``hex``).
///
/// An ObjectId in the store; the plain hex string everywhere else (HTTP bodies, events).
package struct MongoObjectID: Hashable, Sendable, Codable, CustomStringConvertible, LosslessStringConvertible {
    /// 24 lower-case hex digits.
    package let hex: String

    /// A new, unique id: 4 bytes of seconds since 1970, 5 random bytes fixed per process, a 3-byte counter.
    package init() {
        let seconds = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))
        let count = Self.counter.add(1, ordering: .relaxed).newValue
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12)
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: seconds >> shift)) }
        bytes.append(contentsOf: Self.processUnique)
        for shift in stride(from: 16, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: count >> shift)) }
        self.hex = bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Parses 24 hex digits in either case; `nil` for anything else.
    package init?(_ text: String) {
        guard text.utf8.count == 24, text.utf8.allSatisfy({ $0.isHexDigit }) else { return nil }
        self.hex = text.lowercased()
    }

    package var description: String { self.hex }

    /// 24 lower-case hex digits, as libbson prints an ObjectId.
    init(hexDigits: String) {
        self.hex = hexDigits
    }

    /// The hex string. In the store an ObjectId keeps its BSON type: the bridge's encoder and decoder handle
    /// `MongoObjectID` themselves (``MongoValueEncoder``, `Mongoc/BSONDecoder.swift`) and never call these.
    package init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = MongoObjectID(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not an ObjectId: '\(text)'")
            )
        }
        self = id
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.hex)
    }

    private static let processUnique: [UInt8] = (0..<5).map { _ in UInt8.random(in: 0...255) }
    private static let counter = Atomic<UInt32>(UInt32.random(in: 0..<0xFF_FFFF))
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self)
    }
}
