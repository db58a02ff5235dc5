internal import CMongoC
import Foundation

/// Decodes a libbson document into a `Decodable` value with `bson_iter_*`, reading the stored types as they are:
/// - int32, int64 and double decode into any number type that holds the value exactly (whole doubles were stored as
///   integers and come back as `Double`; a whole double decodes into `Int`; `2^53 + 1` stays exact in an `Int64`);
/// - dates into `Date` (milliseconds), ObjectIds (or their hex string) into ``MongoObjectID``;
/// - a missing key or a null is `nil` for an optional; documents and arrays into keyed and unkeyed containers, keys in
///   stored order.
///
/// Values are `bson_value_t`s copied out of an iterator: scalars by value, strings and sub-documents as pointers into
/// the document, which must stay alive (and unchanged) while decoding runs. Iterators are 128-byte aligned, so each
/// container keeps its own in heap storage.
enum BSONDecoder {
    static func decode<T: Decodable>(_ type: T.Type, from document: OpaquePointer) throws -> T {
        let data = bson_get_data(document)!
        var root = bson_value_t()
        root.value_type = BSON_TYPE_DOCUMENT
        root.value.v_doc.data = UnsafeMutablePointer(mutating: data)
        // A BSON document starts with its length, little-endian.
        root.value.v_doc.data_len = UInt32(littleEndian: UnsafeRawPointer(data).loadUnaligned(as: UInt32.self))
        return try DecodingNode(root, parent: nil, key: nil).decode(T.self)
    }
}

/// One value being decoded: the `Decoder` its `init(from:)` receives, and its single-value container.
private final class DecodingNode: Decoder, SingleValueDecodingContainer {
    let value: bson_value_t
    private let parent: DecodingNode?
    private let key: (any CodingKey)?

    init(_ value: bson_value_t, parent: DecodingNode?, key: (any CodingKey)?) {
        self.value = value
        self.parent = parent
        self.key = key
    }

    /// Built from the parent chain on demand: only errors and unusual `init(from:)`s ask for it.
    var codingPath: [any CodingKey] {
        var path = self.parent?.codingPath ?? []
        if let key = self.key { path.append(key) }
        return path
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard self.value.value_type == BSON_TYPE_DOCUMENT else {
            throw self.mismatch([String: Any].self, self.value, key: nil)
        }
        return KeyedDecodingContainer(KeyedContainer(node: self, reader: DocumentReader(self.value)))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard self.value.value_type == BSON_TYPE_ARRAY else { throw self.mismatch([Any].self, self.value, key: nil) }
        return UnkeyedContainer(node: self, reader: DocumentReader(self.value))
    }

    func singleValueContainer() -> any SingleValueDecodingContainer { self }

    // MARK: Reading one value (shared by the three kinds of container)

    func path(appending key: (any CodingKey)?) -> [any CodingKey] {
        key.map { self.codingPath + [$0] } ?? self.codingPath
    }

    func mismatch(_ type: Any.Type, _ value: bson_value_t, key: (any CodingKey)?) -> DecodingError {
        let found = value.typeName
        return value.value_type == BSON_TYPE_NULL
            ? .valueNotFound(type, .init(codingPath: self.path(appending: key), debugDescription: "found null"))
            : .typeMismatch(type, .init(codingPath: self.path(appending: key), debugDescription: "found \(found)"))
    }

    func bool(_ value: bson_value_t, key: (any CodingKey)?) throws -> Bool {
        guard value.value_type == BSON_TYPE_BOOL else { throw self.mismatch(Bool.self, value, key: key) }
        return value.value.v_bool
    }

    func string(_ value: bson_value_t, key: (any CodingKey)?) throws -> String {
        guard value.value_type == BSON_TYPE_UTF8 else { throw self.mismatch(String.self, value, key: key) }
        let utf8 = value.value.v_utf8
        return utf8.str.withMemoryRebound(to: UInt8.self, capacity: Int(utf8.len)) { bytes in
            String(decoding: UnsafeBufferPointer(start: bytes, count: Int(utf8.len)), as: UTF8.self)
        }
    }

    func double(_ value: bson_value_t, key: (any CodingKey)?) throws -> Double {
        switch value.value_type {
        case BSON_TYPE_DOUBLE: return value.value.v_double
        case BSON_TYPE_INT32: return Double(value.value.v_int32)
        case BSON_TYPE_INT64: return Double(value.value.v_int64)
        default: throw self.mismatch(Double.self, value, key: key)
        }
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: bson_value_t, key: (any CodingKey)?) throws -> T {
        let exact: T?
        switch value.value_type {
        case BSON_TYPE_INT32: exact = T(exactly: value.value.v_int32)
        case BSON_TYPE_INT64: exact = T(exactly: value.value.v_int64)
        case BSON_TYPE_DOUBLE: exact = T(exactly: value.value.v_double)
        default: throw self.mismatch(type, value, key: key)
        }
        guard let exact else {
            let context = DecodingError.Context(
                codingPath: self.path(appending: key),
                debugDescription: "the stored \(value.typeName) \(value.numberText) does not fit in \(type)"
            )
            throw DecodingError.dataCorrupted(context)
        }
        return exact
    }

    func date(_ value: bson_value_t, key: (any CodingKey)?) throws -> Date {
        guard value.value_type == BSON_TYPE_DATE_TIME else { throw self.mismatch(Date.self, value, key: key) }
        return Date(timeIntervalSince1970: Double(value.value.v_datetime) / 1000)
    }

    func objectID(_ value: bson_value_t, key: (any CodingKey)?) throws -> MongoObjectID {
        switch value.value_type {
        case BSON_TYPE_OID:
            var oid = value.value.v_oid
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 25) { text in
                bson_oid_to_string(&oid, text.baseAddress)
                return MongoObjectID(
                    hexDigits: String(decoding: UnsafeRawBufferPointer(text).prefix(24), as: UTF8.self)
                )
            }
        case BSON_TYPE_UTF8:
            let text = try self.string(value, key: key)
            guard let id = MongoObjectID(text) else {
                let context = DecodingError.Context(
                    codingPath: self.path(appending: key),
                    debugDescription: "not an ObjectId: '\(text)'"
                )
                throw DecodingError.dataCorrupted(context)
            }
            return id
        default: throw self.mismatch(MongoObjectID.self, value, key: key)
        }
    }

    /// Any `Decodable`: the common scalars, dates and ObjectIds directly, everything else through a child node.
    func decode<T: Decodable>(_ type: T.Type, _ value: bson_value_t, key: (any CodingKey)?) throws -> T {
        // Type comparisons rather than a chain of casts (see MongoValueEncoder.box).
        if T.self == String.self { return try self.string(value, key: key) as! T }
        if T.self == Int.self { return try self.integer(Int.self, value, key: key) as! T }
        if T.self == Int64.self { return try self.integer(Int64.self, value, key: key) as! T }
        if T.self == Double.self { return try self.double(value, key: key) as! T }
        if T.self == Bool.self { return try self.bool(value, key: key) as! T }
        if T.self == Date.self { return try self.date(value, key: key) as! T }
        if T.self == MongoObjectID.self { return try self.objectID(value, key: key) as! T }
        return try T(from: DecodingNode(value, parent: self, key: key))
    }

    // MARK: SingleValueDecodingContainer

    func decodeNil() -> Bool { self.value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try self.bool(self.value, key: nil) }
    /// A type that reads itself as one value (a generic JSON value) sees an ObjectId as its hex digits and a date as
    /// ISO 8601 in UTC with milliseconds, as the API writes them; a `String` field of a model stays strict.
    func decode(_ type: String.Type) throws -> String {
        switch self.value.value_type {
        case BSON_TYPE_OID: return try self.objectID(self.value, key: nil).hex
        case BSON_TYPE_DATE_TIME: return Self.iso8601(try self.date(self.value, key: nil))
        default: return try self.string(self.value, key: nil)
        }
    }

    private static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
    func decode(_ type: Double.Type) throws -> Double { try self.double(self.value, key: nil) }
    func decode(_ type: Float.Type) throws -> Float { Float(try self.double(self.value, key: nil)) }
    func decode(_ type: Int.Type) throws -> Int { try self.integer(type, self.value, key: nil) }
    func decode(_ type: Int8.Type) throws -> Int8 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: Int16.Type) throws -> Int16 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: Int32.Type) throws -> Int32 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: Int64.Type) throws -> Int64 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: UInt.Type) throws -> UInt { try self.integer(type, self.value, key: nil) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try self.integer(type, self.value, key: nil) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try self.integer(type, self.value, key: nil) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // The node's own value: dates and ObjectIds here too (a wrapper type's single value, or the root).
        if T.self == Date.self { return try self.date(self.value, key: nil) as! T }
        if T.self == MongoObjectID.self { return try self.objectID(self.value, key: nil) as! T }
        return try T(from: self)
    }
}

/// Walks the elements of one document or array with a libbson iterator kept in heap storage.
///
/// Keyed lookups start at the element found last: `init(from:)`s ask for keys in about the order they were
/// written, so most lookups look at one or two elements, and a key asked for twice (`decodeIfPresent` asks
/// `contains`, then `decodeNil`, then `decode`) is found where the iterator stands.
private final class DocumentReader {
    private let data: UnsafePointer<UInt8>
    private let length: UInt32
    private let iterator: OpaquePointer
    /// Whether the iterator stands on an element (rather than before the first or after the last).
    private var onElement = false

    init(_ value: bson_value_t) {
        self.data = UnsafePointer(value.value.v_doc.data!)
        self.length = value.value.v_doc.data_len
        self.iterator = OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128))
        self.rewind()
    }

    deinit {
        UnsafeMutableRawPointer(self.iterator).deallocate()
    }

    private func rewind() {
        _ = bson_iter_init_from_data(self.iterator, self.data, Int(self.length))
        self.onElement = false
    }

    /// The next element in order, or `nil` after the last.
    func next() -> bson_value_t? {
        self.onElement = bson_iter_next(self.iterator)
        return self.onElement ? bson_iter_value(self.iterator).pointee : nil
    }

    /// The element named `key`, or `nil` when the document has none.
    func find(_ key: String) -> bson_value_t? {
        var key = key
        return key.withUTF8 { name in
            if self.onElement, self.iteratorKey(is: name) { return bson_iter_value(self.iterator).pointee }
            let start = self.onElement ? bson_iter_offset(self.iterator) : 0
            let wrapped = self.onElement
            while bson_iter_next(self.iterator) {
                if self.iteratorKey(is: name) {
                    self.onElement = true
                    return bson_iter_value(self.iterator).pointee
                }
            }
            self.rewind()
            // From the start up to the element the search began at, unless the search began at the start.
            guard wrapped else { return nil }
            while bson_iter_next(self.iterator), bson_iter_offset(self.iterator) < start {
                if self.iteratorKey(is: name) {
                    self.onElement = true
                    return bson_iter_value(self.iterator).pointee
                }
            }
            self.rewind()
            return nil
        }
    }

    /// Every key, in stored order.
    func keys() -> [String] {
        self.rewind()
        var keys: [String] = []
        while bson_iter_next(self.iterator) {
            let name = bson_iter_key(self.iterator)!
            let length = Int(bson_iter_key_len(self.iterator))
            keys.append(
                name.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                    String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
                }
            )
        }
        self.rewind()
        return keys
    }

    private func iteratorKey(is name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard Int(bson_iter_key_len(self.iterator)) == name.count else { return false }
        return name.isEmpty || memcmp(bson_iter_key(self.iterator), name.baseAddress!, name.count) == 0
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let node: DecodingNode
    let reader: DocumentReader

    var codingPath: [any CodingKey] { self.node.codingPath }
    var allKeys: [Key] { self.reader.keys().compactMap(Key.init(stringValue:)) }

    func contains(_ key: Key) -> Bool { self.reader.find(key.stringValue) != nil }

    private func value(_ key: Key) throws -> bson_value_t {
        guard let value = self.reader.find(key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: self.codingPath, debugDescription: "missing"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try self.value(key).isNull }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try self.node.bool(self.value(key), key: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try self.node.string(self.value(key), key: key)
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try self.node.double(self.value(key), key: key)
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        Float(try self.node.double(self.value(key), key: key))
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        try self.node.integer(type, self.value(key), key: key)
    }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try self.node.decode(type, self.value(key), key: key)
    }

    /// One lookup instead of the default's three (`contains`, `decodeNil`, `decode`).
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = self.reader.find(key.stringValue), !value.isNull else { return nil }
        return try self.node.decode(type, value, key: key)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try DecodingNode(self.value(key), parent: self.node, key: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try DecodingNode(self.value(key), parent: self.node, key: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        guard let value = self.reader.find("super") else {
            throw DecodingError.keyNotFound(SuperKey(), .init(codingPath: self.codingPath, debugDescription: "missing"))
        }
        return DecodingNode(value, parent: self.node, key: SuperKey())
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        DecodingNode(try self.value(key), parent: self.node, key: key)
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let node: DecodingNode
    let reader: DocumentReader
    /// The element `decode` reads next; `nil` at the end.
    private var upcoming: bson_value_t?
    private(set) var currentIndex = 0

    init(node: DecodingNode, reader: DocumentReader) {
        self.node = node
        self.reader = reader
        self.upcoming = reader.next()
    }

    var codingPath: [any CodingKey] { self.node.codingPath }
    /// Unknown without a second pass, which no decoder here needs.
    var count: Int? { nil }
    var isAtEnd: Bool { self.upcoming == nil }

    private var key: IndexKey { IndexKey(intValue: self.currentIndex) }

    /// Reads the next element with `read`, and moves past it only when that succeeds (as JSONDecoder does, so a
    /// caller may try another type).
    private mutating func read<T>(_ read: (DecodingNode, bson_value_t, IndexKey) throws -> T) throws -> T {
        guard let value = self.upcoming else {
            throw DecodingError.valueNotFound(
                T.self,
                .init(codingPath: self.node.path(appending: self.key), debugDescription: "past the end of the array")
            )
        }
        let result = try read(self.node, value, self.key)
        self.upcoming = self.reader.next()
        self.currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard let value = self.upcoming, value.isNull else { return false }
        self.upcoming = self.reader.next()
        self.currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try self.read { try $0.bool($1, key: $2) } }
    mutating func decode(_ type: String.Type) throws -> String { try self.read { try $0.string($1, key: $2) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try self.read { try $0.double($1, key: $2) } }
    mutating func decode(_ type: Float.Type) throws -> Float {
        try self.read { Float(try $0.double($1, key: $2)) }
    }
    mutating func decode(_ type: Int.Type) throws -> Int { try self.read { try $0.integer(type, $1, key: $2) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try self.read { try $0.integer(type, $1, key: $2) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode(_ type: Int32.Type) throws -> Int32 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode(_ type: Int64.Type) throws -> Int64 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try self.read { try $0.integer(type, $1, key: $2) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 {
        try self.read { try $0.integer(type, $1, key: $2) }
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try self.read { try $0.decode(type, $1, key: $2) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try self.read { try DecodingNode($1, parent: $0, key: $2).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try self.read { try DecodingNode($1, parent: $0, key: $2).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try self.read { DecodingNode($1, parent: $0, key: $2) }
    }
}

extension bson_value_t {
    fileprivate var isNull: Bool { self.value_type == BSON_TYPE_NULL || self.value_type == BSON_TYPE_UNDEFINED }

    /// The BSON type's name, as MongoDB's `$type` spells it, for error messages.
    fileprivate var typeName: String {
        switch self.value_type {
        case BSON_TYPE_DOUBLE: "double"
        case BSON_TYPE_UTF8: "string"
        case BSON_TYPE_DOCUMENT: "object"
        case BSON_TYPE_ARRAY: "array"
        case BSON_TYPE_OID: "objectId"
        case BSON_TYPE_BOOL: "bool"
        case BSON_TYPE_DATE_TIME: "date"
        case BSON_TYPE_NULL: "null"
        case BSON_TYPE_INT32: "int"
        case BSON_TYPE_INT64: "long"
        case BSON_TYPE_DECIMAL128: "decimal"
        default: "BSON type \(self.value_type.rawValue)"
        }
    }

    fileprivate var numberText: String {
        switch self.value_type {
        case BSON_TYPE_INT32: "\(self.value.v_int32)"
        case BSON_TYPE_INT64: "\(self.value.v_int64)"
        case BSON_TYPE_DOUBLE: "\(self.value.v_double)"
        default: ""
        }
    }
}
