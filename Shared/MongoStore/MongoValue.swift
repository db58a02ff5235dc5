package import Foundation

/// A value in a filter, update, sort or projection: what `MongoDocument` literals are made of.
///
/// Write filters and updates as literals, in the order the server should see them:
/// ```swift
/// let filter: MongoDocument = ["_id": .string(productID), "available": ["$gte": .int(quantity)]]
/// let update: MongoDocument = ["$inc": ["available": .int(-quantity), "reserved": .int(quantity)]]
/// ```
/// Stored values are `Codable` models; use ``init(encoding:)`` to embed one in an update (`$set` of a sub-document).
///
/// The bridge writes a value straight into BSON (`Mongoc/BSONWriter.swift`), each case as its own BSON type: `.int` as
/// int32 when it fits and int64 otherwise, `.double` always as a double (`.double(10)` stays a double; only encoded
/// `Codable` doubles become integers, see ``MongoValueEncoder``).
package enum MongoValue: Sendable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([MongoValue])
    case document(MongoDocument)
    case objectID(MongoObjectID)
    /// Stored as a BSON date. Do not `$set` one on the dev store (dev-store.md gap 3): use `$currentDate`, set dates
    /// at insert, or store epoch milliseconds.
    case date(Date)

    /// A value of type `Int`.
    package static func int(_ value: Int) -> MongoValue { .int(Int64(value)) }

    /// Encodes a `Codable` value the way documents are stored (ObjectIds and dates keep their BSON types).
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when the value cannot be encoded.
    package init(encoding value: some Encodable) throws {
        do {
            self = try MongoValueEncoder.encode(value)
        } catch {
            let reason = (error as? EncodingError)?.summary ?? "\(error)"
            throw MongoStoreError(.invalidDocument, "cannot encode \(type(of: value)): \(reason)")
        }
    }
}

extension MongoValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    package init(stringLiteral value: String) { self = .string(value) }
    package init(integerLiteral value: Int64) { self = .int(value) }
    package init(floatLiteral value: Double) { self = .double(value) }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(nilLiteral: ()) { self = .null }
    package init(arrayLiteral elements: MongoValue...) { self = .array(elements) }
    package init(dictionaryLiteral elements: (String, MongoValue)...) { self = .document(MongoDocument(elements)) }
}

/// An ordered BSON document for filters, updates, sorts, projections and index keys. Order matters for sorts and
/// index keys, which is why this is not a `Dictionary`.
package struct MongoDocument: Sendable, ExpressibleByDictionaryLiteral {
    package private(set) var fields: [(key: String, value: MongoValue)]

    package init(_ fields: [(String, MongoValue)] = []) {
        self.fields = fields.map { (key: $0.0, value: $0.1) }
    }

    package init(dictionaryLiteral elements: (String, MongoValue)...) { self.init(elements) }

    package var isEmpty: Bool { self.fields.isEmpty }

    /// Adds a field at the end (builders for optional filter parts).
    package mutating func append(_ key: String, _ value: MongoValue) {
        self.fields.append((key: key, value: value))
    }

    /// The document a `Codable` value encodes to, as it is stored.
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when the value cannot be encoded or is not a document.
    init(encoding value: some Encodable) throws {
        guard case .document(let document) = try MongoValue(encoding: value) else {
            throw MongoStoreError(.invalidDocument, "\(type(of: value)) does not encode as a document")
        }
        self = document
    }

    init(fields: [(key: String, value: MongoValue)]) {
        self.fields = fields
    }
}

extension EncodingError {
    /// Where and why, for an error's detail: `lines.1.price: nan has no BSON form here`.
    var summary: String {
        guard case .invalidValue(_, let context) = self else { return "\(self)" }
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    }
}
