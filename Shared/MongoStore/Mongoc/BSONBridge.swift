internal import CMongoC
import Foundation

/// The only place where libbson documents are created, read and destroyed: documents go in as ``MongoDocument``s
/// (``BSONWriter``) and come out as `Decodable` values (``BSONDecoder``), with no text in between.
///
/// `bson_t` is declared 128-byte aligned, so Swift imports `bson_t *` as `OpaquePointer`: documents live on the heap
/// (`bson_new`) or in a 128-byte aligned buffer (replies), never on the Swift stack.
/// Pointers handed to a closure are valid only inside it and must not escape.
enum BSONBridge {
    /// A new heap document holding `document`. The caller owns it and must `bson_destroy` it.
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when libbson refuses a field.
    static func makeDocument(_ document: MongoDocument) throws -> OpaquePointer {
        try BSONWriter.makeDocument(document)
    }

    /// A temporary document holding `document` (empty for `nil`) for the duration of `body`.
    /// - Throws: ``MongoStoreError/Code/invalidDocument`` when libbson refuses a field.
    static func withDocument<T>(_ document: MongoDocument?, _ body: (OpaquePointer) throws -> T) throws -> T {
        let bson = try self.makeDocument(document ?? [:])
        defer { bson_destroy(bson) }
        return try body(bson)
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

    /// Decodes a document into a `Decodable` value.
    /// - Throws: ``MongoStoreError/Code/decoding``, naming the type and the path, when the stored shape does not
    ///   match `T`.
    static func decode<T: Decodable>(_ type: T.Type, from document: OpaquePointer) throws -> T {
        do {
            return try BSONDecoder.decode(type, from: document)
        } catch {
            let reason = (error as? DecodingError)?.summary ?? "\(error)"
            throw MongoStoreError(.decoding, "stored document does not decode as \(type) \(reason)")
        }
    }
}

extension DecodingError {
    /// Where and why, for an error's detail: `at lines.1.quantity: expected Int, found string`.
    var summary: String {
        let (context, what): (Context, String) =
            switch self {
            case .typeMismatch(let type, let context): (context, "expected \(type), \(context.debugDescription)")
            case .valueNotFound(let type, let context): (context, "expected \(type), \(context.debugDescription)")
            case .keyNotFound(let key, let context): (context.withKey(key), "missing")
            case .dataCorrupted(let context): (context, context.debugDescription)
            @unknown default: (Context(codingPath: [], debugDescription: ""), "\(self)")
            }
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return "at \(path.isEmpty ? "the top level" : path): \(what)"
    }
}

extension DecodingError.Context {
    fileprivate func withKey(_ key: any CodingKey) -> Self {
        .init(codingPath: self.codingPath + [key], debugDescription: self.debugDescription)
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
