internal import CMongoC
import Foundation

/// The only place where libbson documents are created, read and destroyed.
///
/// `bson_t` is declared 128-byte aligned, so Swift imports `bson_t *` as `OpaquePointer`: documents live on the heap
/// (`bson_new_from_json`) or in a 128-byte aligned buffer (replies), never on the Swift stack.
/// Pointers handed to a closure are valid only inside it and must not escape.
enum BSONBridge {
    /// Parses Extended JSON into a new heap document. The caller owns it and must `bson_destroy` it.
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when libbson rejects the JSON.
    static func makeDocument(_ json: String) throws -> OpaquePointer {
        var error = bson_error_t()
        let bytes = Array(json.utf8)
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            bson_new_from_json(buffer.baseAddress, buffer.count, &error)
        }
        guard let document = parsed else {
            throw MongoStoreError(.invalidDocument, "libbson rejected the document: \(error.messageText)")
        }
        return document
    }

    /// Parses Extended JSON into a temporary document for the duration of `body`.
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when libbson rejects the JSON.
    static func withDocument<T>(_ json: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        let document = try self.makeDocument(json)
        defer { bson_destroy(document) }
        return try body(document)
    }

    /// Like ``withDocument(_:_:)``, with an empty document for `nil`.
    static func withDocument<T>(_ document: MongoDocument?, _ body: (OpaquePointer) throws -> T) throws -> T {
        try self.withDocument(document?.extendedJSON ?? "{}", body)
    }

    /// Gives `body` an initialised, empty reply document that libmongoc may fill, and destroys it afterwards,
    /// on success and on failure alike (libmongoc initialises replies even when a call fails).
    static func withReply<T>(_ body: (OpaquePointer) throws -> T) rethrows -> T {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        let reply = OpaquePointer(storage)
        bson_init(reply)
        defer {
            bson_destroy(reply)
            storage.deallocate()
        }
        return try body(reply)
    }

    /// The document as relaxed Extended JSON bytes (ObjectIds as `{"$oid"}`, dates as `{"$date"}`, numbers plain).
    static func relaxedJSON(_ document: OpaquePointer) -> Data {
        var length = 0
        guard let text = bson_as_relaxed_extended_json(document, &length) else { return Data("{}".utf8) }
        defer { bson_free(text) }
        return Data(bytes: text, count: length)
    }

    /// Decodes a document into a `Decodable` value.
    /// - Throws: ``MongoStoreError/Code/decoding`` when the stored shape does not match `T`.
    static func decode<T: Decodable>(_ type: T.Type, from document: OpaquePointer) throws -> T {
        let json = self.relaxedJSON(document)
        do {
            return try ExtendedJSONCoding.makeDecoder().decode(type, from: json)
        } catch {
            throw MongoStoreError(.decoding, "stored document does not decode as \(type): \(error)")
        }
    }

    /// Encodes a `Codable` value as the Extended JSON the store receives.
    /// - Throws: ``MongoStoreError/Code/invalidDocument``.
    static func extendedJSON(encoding value: some Encodable) throws -> String {
        guard case .extendedJSON(let json) = try MongoValue(encoding: value) else { preconditionFailure() }
        return json
    }
}

extension bson_error_t {
    /// The NUL-terminated message buffer as a `String`.
    var messageText: String {
        withUnsafeBytes(of: self.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
