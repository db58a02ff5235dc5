package import Foundation

/// A value in a filter, update, sort or projection: what `MongoDocument` literals are made of.
///
/// Write filters and updates as literals, in the order the server should see them:
/// ```swift
/// let filter: MongoDocument = ["_id": .string(productID), "available": ["$gte": .int(quantity)]]
/// let update: MongoDocument = ["$inc": ["available": .int(-quantity), "reserved": .int(quantity)]]
/// ```
/// Stored values are `Codable` models; use ``init(encoding:)`` to embed one in an update (`$set` of a sub-document).
package indirect enum MongoValue: Sendable {
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
    /// Extended JSON produced by the bridge's encoder (see ``init(encoding:)``).
    case extendedJSON(String)

    /// A value of type `Int`.
    package static func int(_ value: Int) -> MongoValue { .int(Int64(value)) }

    /// Encodes a `Codable` value the way documents are stored (ObjectIds and dates keep their BSON types).
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when the value cannot be encoded.
    package init(encoding value: some Encodable) throws {
        do {
            let data = try ExtendedJSONCoding.makeEncoder().encode(value)
            self = .extendedJSON(String(decoding: data, as: UTF8.self))
        } catch {
            throw MongoStoreError(.invalidDocument, "cannot encode \(type(of: value)): \(error)")
        }
    }

    /// Appends this value as Extended JSON (canonical forms for doubles and dates, so the BSON types are exact).
    func write(to output: inout String) {
        switch self {
        case .string(let string): Self.writeJSONString(string, to: &output)
        case .int(let int): output += String(int)
        case .double(let double):
            let text =
                double.isNaN ? "NaN" : double.isInfinite ? (double < 0 ? "-Infinity" : "Infinity") : "\(double)"
            output += "{\"$numberDouble\":\"\(text)\"}"
        case .bool(let bool): output += bool ? "true" : "false"
        case .null: output += "null"
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .document(let document): document.write(to: &output)
        case .objectID(let id): output += "{\"$oid\":\"\(id.hex)\"}"
        case .date(let date):
            output += "{\"$date\":{\"$numberLong\":\"\(ExtendedJSONCoding.millisecondsSince1970(date))\"}}"
        case .extendedJSON(let json): output += json
        }
    }

    static func writeJSONString(_ string: String, to output: inout String) {
        output += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
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

    /// The document as Extended JSON text, as libbson parses it.
    package var extendedJSON: String {
        var output = ""
        self.write(to: &output)
        return output
    }

    func write(to output: inout String) {
        output += "{"
        for (index, field) in self.fields.enumerated() {
            if index > 0 { output += "," }
            MongoValue.writeJSONString(field.key, to: &output)
            output += ":"
            field.value.write(to: &output)
        }
        output += "}"
    }
}
