import Foundation

/// Encodes `Codable` values into ``MongoValue`` trees, which the bridge then writes into a libbson document with
/// `bson_append_*` (`Mongoc/BSONWriter.swift`); filters and updates take the same road. No text in between.
///
/// The stored forms are those the store has always held:
/// - `Date` → BSON date in milliseconds (``Foundation/Date/epochMilliseconds``); ``MongoObjectID`` → ObjectId.
/// - Integers → int32 when they fit, int64 otherwise (the writer picks). Whole `Double`s that an `Int64` holds exactly
///   (|x| < 2^53) → integers too: MongoDB compares numbers across types, and they decode back into `Double`. Other
///   `Double`s stay doubles; NaN and infinities are refused, as JSON refused them.
/// - Keyed containers → documents, keys in the order they were encoded; unkeyed containers → arrays.
/// - `nil` optionals are left out (synthesized `encodeIfPresent`); an explicit `encodeNil` is a BSON null.
/// - `Data`, `URL` and `Decimal` get no special form (no stored model has one).
enum MongoValueEncoder {
    static func encode(_ value: some Encodable) throws -> MongoValue {
        try EncodingNode(parent: nil, key: nil).box(value, key: nil)
    }
}

/// One value being encoded: the `Encoder` its `encode(to:)` receives, and its single-value container.
private final class EncodingNode: Encoder, SingleValueEncodingContainer {
    /// What has been encoded at this node so far.
    private enum Content {
        case nothing
        case value(MongoValue)
        case document(DocumentStorage)
        case array(ArrayStorage)
    }

    private let parent: EncodingNode?
    private let key: (any CodingKey)?
    private var content = Content.nothing

    init(parent: EncodingNode?, key: (any CodingKey)?) {
        self.parent = parent
        self.key = key
    }

    /// Built from the parent chain on demand: most encodes never ask for it.
    var codingPath: [any CodingKey] {
        var path = self.parent?.codingPath ?? []
        if let key = self.key { path.append(key) }
        return path
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// The encoded value; a type that encoded nothing is an empty document, as in JSON.
    func value() throws -> MongoValue {
        switch self.content {
        case .nothing: .document([:])
        case .value(let value): value
        case .document(let storage): .document(try storage.build())
        case .array(let storage): .array(try storage.build())
        }
    }

    /// Encodes a child value. Dates and ObjectIds take their BSON types here; the common scalars skip a child node.
    func box<T: Encodable>(_ value: T, key: (any CodingKey)?) throws -> MongoValue {
        // Type comparisons rather than a chain of casts: each failed `as?` is a runtime call, and most values are
        // structs that would fail them all.
        if T.self == String.self { return .string(value as! String) }
        if T.self == Int.self { return .int(value as! Int) }
        if T.self == Int64.self { return .int(value as! Int64) }
        if T.self == Double.self { return try self.number(value as! Double, key: key) }
        if T.self == Bool.self { return .bool(value as! Bool) }
        if T.self == Date.self { return .date(value as! Date) }
        if T.self == MongoObjectID.self { return .objectID(value as! MongoObjectID) }
        let child = EncodingNode(parent: self, key: key)
        try value.encode(to: child)
        return try child.value()
    }

    func number(_ double: Double, key: (any CodingKey)?) throws -> MongoValue {
        guard double.isFinite else {
            throw EncodingError.invalidValue(
                double,
                .init(codingPath: self.path(appending: key), debugDescription: "\(double) has no BSON form here")
            )
        }
        if double.rounded() == double, abs(double) < 9_007_199_254_740_992 { return .int(Int64(double)) }
        return .double(double)
    }

    func integer(_ value: some FixedWidthInteger, key: (any CodingKey)?) throws -> MongoValue {
        guard let int = Int64(exactly: value) else {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: self.path(appending: key), debugDescription: "\(value) does not fit in an Int64")
            )
        }
        return .int(int)
    }

    func path(appending key: (any CodingKey)?) -> [any CodingKey] {
        key.map { self.codingPath + [$0] } ?? self.codingPath
    }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let storage: DocumentStorage
        switch self.content {
        case .document(let existing): storage = existing
        case .nothing:
            storage = DocumentStorage()
            self.content = .document(storage)
        default: preconditionFailure("a keyed container was asked for after another kind of value was encoded")
        }
        return KeyedEncodingContainer(KeyedContainer(node: self, storage: storage))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let storage: ArrayStorage
        switch self.content {
        case .array(let existing): storage = existing
        case .nothing:
            storage = ArrayStorage()
            self.content = .array(storage)
        default: preconditionFailure("an unkeyed container was asked for after another kind of value was encoded")
        }
        return UnkeyedContainer(node: self, storage: storage)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    // MARK: SingleValueEncodingContainer

    func encodeNil() { self.content = .value(.null) }
    func encode(_ value: Bool) { self.content = .value(.bool(value)) }
    func encode(_ value: String) { self.content = .value(.string(value)) }
    func encode(_ value: Double) throws { self.content = .value(try self.number(value, key: nil)) }
    func encode(_ value: Float) throws { self.content = .value(try self.number(Double(value), key: nil)) }
    func encode(_ value: Int) { self.content = .value(.int(value)) }
    func encode(_ value: Int8) { self.content = .value(.int(Int64(value))) }
    func encode(_ value: Int16) { self.content = .value(.int(Int64(value))) }
    func encode(_ value: Int32) { self.content = .value(.int(Int64(value))) }
    func encode(_ value: Int64) { self.content = .value(.int(value)) }
    func encode(_ value: UInt) throws { self.content = .value(try self.integer(value, key: nil)) }
    func encode(_ value: UInt8) { self.content = .value(.int(Int64(value))) }
    func encode(_ value: UInt16) { self.content = .value(.int(Int64(value))) }
    func encode(_ value: UInt32) { self.content = .value(.int(Int64(value))) }
    func encode(_ value: UInt64) throws { self.content = .value(try self.integer(value, key: nil)) }
    func encode<T: Encodable>(_ value: T) throws {
        // A wrapper's own single value (an enum's raw value, a Date inside a custom type) is this node's value.
        if T.self == Date.self {
            self.content = .value(.date(value as! Date))
        } else if T.self == MongoObjectID.self {
            self.content = .value(.objectID(value as! MongoObjectID))
        } else {
            try value.encode(to: self)
        }
    }
}

/// The fields of a document being encoded. A nested container handed out before its content is written holds a place
/// and is filled in when the document is built, so key order is the order of the calls.
private final class DocumentStorage {
    var fields: [(key: String, value: MongoValue)] = []
    var later: [(index: Int, node: EncodingNode)] = []

    func build() throws -> MongoDocument {
        for (index, node) in self.later { self.fields[index].value = try node.value() }
        return MongoDocument(fields: self.fields)
    }
}

/// The elements of an array being encoded (see ``DocumentStorage`` for `later`).
private final class ArrayStorage {
    var elements: [MongoValue] = []
    var later: [(index: Int, node: EncodingNode)] = []

    func build() throws -> [MongoValue] {
        for (index, node) in self.later { self.elements[index] = try node.value() }
        return self.elements
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let storage: DocumentStorage

    var codingPath: [any CodingKey] { self.node.codingPath }

    private func add(_ value: MongoValue, _ key: Key) { self.storage.fields.append((key.stringValue, value)) }

    mutating func encodeNil(forKey key: Key) { self.add(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) { self.add(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) { self.add(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        self.add(try self.node.number(value, key: key), key)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        self.add(try self.node.number(Double(value), key: key), key)
    }
    mutating func encode(_ value: Int, forKey key: Key) { self.add(.int(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) { self.add(.int(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) { self.add(.int(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) { self.add(.int(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) { self.add(.int(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        self.add(try self.node.integer(value, key: key), key)
    }
    mutating func encode(_ value: UInt8, forKey key: Key) { self.add(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) { self.add(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) { self.add(.int(Int64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        self.add(try self.node.integer(value, key: key), key)
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        self.add(try self.node.box(value, key: key), key)
    }

    private func later(_ key: any CodingKey, as name: String) -> EncodingNode {
        let child = EncodingNode(parent: self.node, key: key)
        self.storage.later.append((self.storage.fields.count, child))
        self.storage.fields.append((name, .null))
        return child
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        self.later(key, as: key.stringValue).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        self.later(key, as: key.stringValue).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { self.later(SuperKey(), as: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { self.later(key, as: key.stringValue) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: EncodingNode
    let storage: ArrayStorage

    var codingPath: [any CodingKey] { self.node.codingPath }
    var count: Int { self.storage.elements.count }
    private var nextKey: IndexKey { IndexKey(intValue: self.count) }

    private func add(_ value: MongoValue) { self.storage.elements.append(value) }

    mutating func encodeNil() { self.add(.null) }
    mutating func encode(_ value: Bool) { self.add(.bool(value)) }
    mutating func encode(_ value: String) { self.add(.string(value)) }
    mutating func encode(_ value: Double) throws { self.add(try self.node.number(value, key: self.nextKey)) }
    mutating func encode(_ value: Float) throws { self.add(try self.node.number(Double(value), key: self.nextKey)) }
    mutating func encode(_ value: Int) { self.add(.int(value)) }
    mutating func encode(_ value: Int8) { self.add(.int(Int64(value))) }
    mutating func encode(_ value: Int16) { self.add(.int(Int64(value))) }
    mutating func encode(_ value: Int32) { self.add(.int(Int64(value))) }
    mutating func encode(_ value: Int64) { self.add(.int(value)) }
    mutating func encode(_ value: UInt) throws { self.add(try self.node.integer(value, key: self.nextKey)) }
    mutating func encode(_ value: UInt8) { self.add(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) { self.add(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) { self.add(.int(Int64(value))) }
    mutating func encode(_ value: UInt64) throws { self.add(try self.node.integer(value, key: self.nextKey)) }
    mutating func encode<T: Encodable>(_ value: T) throws { self.add(try self.node.box(value, key: self.nextKey)) }

    private func later() -> EncodingNode {
        let child = EncodingNode(parent: self.node, key: self.nextKey)
        self.storage.later.append((self.count, child))
        self.storage.elements.append(.null)
        return child
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        self.later().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self.later().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { self.later() }
}

/// The coding-path key of an array element.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(self.intValue ?? 0) }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) {
        guard let int = Int(stringValue) else { return nil }
        self.intValue = int
    }
}

/// The key of `superEncoder()` / `superDecoder()`.
struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { guard stringValue == "super" else { return nil } }
    init?(intValue: Int) { nil }
}
